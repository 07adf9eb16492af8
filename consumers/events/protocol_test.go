package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// protocolDoc is the specification whose examples TestProtocolDoc replays.
const protocolDoc = "../../docs/PROTOCOL.md"

// frameWait bounds the wait for each frame a block expects.
const frameWait = 5 * time.Second

// TestProtocolDoc replays every example exchange of docs/PROTOCOL.md
// against a real server, the example server the document describes, with
// real WebSocket clients on 127.0.0.1: each "frames" block gets a server
// of its own, sends its > frames and checks that the < frames arrive,
// and each "subprotocols" block checks the negotiation. The document's
// appendix describes the syntax.
func TestProtocolDoc(t *testing.T) {
	t.Parallel()
	blocks := readDocBlocks(t, protocolDoc)
	kinds := map[string]int{}
	for _, b := range blocks {
		kinds[b.kind]++
	}
	if kinds["frames"] < 10 || kinds["subprotocols"] < 1 {
		t.Fatalf("%s: found %v blocks; has the syntax of its examples changed?", protocolDoc, kinds)
	}
	for _, b := range blocks {
		t.Run(fmt.Sprintf("%s/line%d", b.section, b.line), func(t *testing.T) {
			t.Parallel()
			switch b.kind {
			case "frames":
				replay(t, b)
			case "subprotocols":
				negotiate(t, b)
			}
		})
	}
}

// docServer is the example server of PROTOCOL.md: an Events endpoint at
// /ws with the handlers its examples use.
type docServer struct {
	url     string
	box     *channels.ChannelBox
	broker  *flakyBroker
	attrs   map[string]string
	fields  protocol.Fields
	codec   string // "json" or "msgpack"
	offer   string // "none": the clients offer no subprotocol
	pongs   bool   // the clients answer pings
	session bool   // each client names a session of its own (protocol.SessionParam)
}

// startDocServer starts the example server with the settings of a
// block's info string.
func startDocServer(t *testing.T, attrs map[string]string) *docServer {
	t.Helper()
	s := &docServer{attrs: attrs, broker: &flakyBroker{MemoryBroker: channels.NewMemoryBroker(nil)}, fields: protocol.DefaultFields(), codec: "json", pongs: true}
	boxOpts := &channels.Options{Broker: s.broker}
	evOpts := &events.EventOptions{Logger: slog.New(slog.DiscardHandler), AuthorizeJoin: authorizeJoin}
	wsOpts := &websocket.Options{}
	for k, v := range attrs {
		var err error
		switch k {
		case "codec":
			if v != "json" && v != "msgpack" {
				err = errors.New("json or msgpack")
			}
			s.codec = v
		case "fields":
			if v != "channel-data" {
				err = errors.New("only channel-data")
			}
			s.fields = protocol.ChannelDataFields()
		case "rate":
			evOpts.RateLimit, err = strconv.ParseFloat(v, 64)
		case "burst":
			evOpts.RateBurst, err = strconv.Atoi(v)
		case "max-violations":
			evOpts.MaxViolations, err = strconv.Atoi(v)
		case "handler-timeout":
			evOpts.HandlerTimeout, err = time.ParseDuration(v)
		case "read-limit":
			wsOpts.ReadLimit, err = strconv.ParseInt(v, 10, 64)
		case "ping-interval":
			wsOpts.PingInterval, err = time.ParseDuration(v)
		case "pong-timeout":
			wsOpts.PongTimeout, err = time.ParseDuration(v)
		case "pongs":
			if v != "on" && v != "off" {
				err = errors.New("on or off")
			}
			s.pongs = v == "on"
		case "max-groups":
			boxOpts.MaxGroupsPerChannel, err = strconv.Atoi(v)
		case "max-room-name":
			boxOpts.MaxGroupName, err = strconv.Atoi(v)
		case "history-size":
			boxOpts.HistorySize, err = strconv.Atoi(v)
		case "session":
			if v != "on" {
				err = errors.New("only on")
			}
			s.session = true
		case "offer":
			if v != "none" {
				err = errors.New("only none")
			}
			s.offer = v
		default:
			err = errors.New("unknown setting")
		}
		if err != nil {
			t.Fatalf("%s=%s: %v", k, v, err)
		}
	}
	s.box = channels.NewBox(boxOpts)
	evOpts.Box, evOpts.Fields = s.box, s.fields
	ev := events.NewEvents(evOpts)
	ev.On("echo", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p any
		if err := e.Decode(&p); err != nil {
			return err
		}
		return c.Reply(ctx, e, "echo", p)
	})
	ev.On("message", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p any
		if err := e.Decode(&p); err != nil {
			return err
		}
		if e.Room == "" {
			return events.NewError(protocol.CodeBadRequest, "no room given")
		}
		if !slices.Contains(c.Box().GroupsOf(c.Channel().ID()), e.Room) {
			return events.NewError(protocol.CodeForbidden, "join the room first")
		}
		_, err := c.EmitToRoom(ctx, e.Room, "message", p)
		return err
	})
	type operands struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	events.OnRequest(ev, "add", func(_ context.Context, _ *events.EventConn, p operands) (map[string]int, error) {
		return map[string]int{"sum": p.A + p.B}, nil
	})
	events.On(ev, "typing", func(ctx context.Context, c *events.EventConn, p any) error {
		_, err := c.EmitToRoomUnsaved(ctx, events.EventOf(ctx).Room, "typing", p, c.ExceptSelf())
		return err
	})
	ev.On("fail", func(context.Context, *events.EventConn, *events.Event) error {
		return errors.New("the database is on fire")
	})
	ev.On("slow", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		<-ctx.Done()
		return ctx.Err()
	})
	rt := router.NewWithOptions(&router.Options{WebSocket: wsOpts})
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.broker.down.Store(false)
		s.box.Close(ctx) //nolint:errcheck // a shutdown step may have closed it
		srv.Close()
		s.broker.Close(ctx) //nolint:errcheck // nothing to report
	})
	return s
}

// authorizeJoin is the example server's rule: rooms named "private:..."
// are refused, rooms named "members:..." need a login nobody has.
func authorizeJoin(_ context.Context, _ *events.EventConn, j events.JoinRequest) error {
	switch {
	case strings.HasPrefix(j.Room, "private:"):
		return errors.New("not on the guest list")
	case strings.HasPrefix(j.Room, "members:"):
		return events.NewError(protocol.CodeUnauthorized, "log in first")
	}
	return nil
}

// flakyBroker is a MemoryBroker whose server can be made unreachable.
type flakyBroker struct {
	*channels.MemoryBroker
	down atomic.Bool
}

var _ channels.Broker = (*flakyBroker)(nil)

func (b *flakyBroker) unreachable() error {
	if b.down.Load() {
		return fmt.Errorf("test broker: %w", channels.ErrBrokerUnavailable)
	}
	return nil
}

func (b *flakyBroker) Publish(ctx context.Context, group string, msg *channels.Message, opts channels.PublishOptions) (channels.Position, error) {
	if err := b.unreachable(); err != nil {
		return channels.Position{}, err
	}
	return b.MemoryBroker.Publish(ctx, group, msg, opts)
}

func (b *flakyBroker) History(ctx context.Context, group string, since *channels.Position) ([]channels.Entry, channels.Position, bool, error) {
	if err := b.unreachable(); err != nil {
		return nil, channels.Position{}, false, err
	}
	return b.MemoryBroker.History(ctx, group, since)
}

func (b *flakyBroker) AddPresence(ctx context.Context, group string, p channels.PresenceInfo) error {
	if err := b.unreachable(); err != nil {
		return err
	}
	return b.MemoryBroker.AddPresence(ctx, group, p)
}

// replay runs one frames block.
func replay(t *testing.T, b docBlock) {
	steps, err := parseSteps(b)
	if err != nil {
		t.Fatalf("%s: %v", protocolDoc, err)
	}
	s := startDocServer(t, b.attrs)
	r := &replayer{t: t, s: s, peers: map[string]*peer{}, bound: bindings{}}
	defer r.closeAll()
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		switch st.op {
		case "!":
			r.serverStep(st)
		case ">":
			r.peer(st).send(st, r.bound)
		case "<":
			r.peer(st).expect(st, r.bound)
		case "<~":
			j := i
			for j < len(steps) && steps[j].op == "<~" && steps[j].client == st.client && steps[j].kind == "envelope" {
				j++
			}
			r.peer(st).expectAnyOrder(steps[i:j], r.bound)
			i = j - 1
		}
	}
}

// replayer holds the clients of one block, by name.
type replayer struct {
	t     *testing.T
	s     *docServer
	peers map[string]*peer
	bound bindings
	order []*peer // every connection made, for closeAll
}

// peer returns the client a step names, connecting it on its first step
// and again on the first step after its connection ended.
func (r *replayer) peer(st step) *peer {
	p := r.peers[st.client]
	if p == nil || p.ended {
		p = dial(r.t, r.s, st.client)
		r.peers[st.client] = p
		r.order = append(r.order, p)
	}
	return p
}

// serverStep runs a "!" line: something that happens on the server.
func (r *replayer) serverStep(st step) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	switch strings.Join(st.words, " ") {
	case "broker down":
		r.s.broker.down.Store(true)
	case "broker up":
		r.s.broker.down.Store(false)
	case "shutdown":
		err = r.s.box.Close(ctx)
	default:
		if len(st.words) == 2 && st.words[0] == "flush" {
			err = r.s.box.FlushHistory(ctx, st.words[1])
			break
		}
		err = errors.New("unknown server step")
	}
	if err != nil {
		r.t.Fatalf("%s:%d: %v", protocolDoc, st.n, err)
	}
}

// closeAll ends the block. Each client still connected must have got
// every frame the server sent it: it echoes a last event, twice over so
// that what the other clients' events sent it is in too (the first round
// finishes every event sent before), and must get the echo and nothing
// before it (unless a rate limit would refuse the echo). Then it closes
// with 1000, and must get nothing but the server's close frame.
func (r *replayer) closeAll() {
	if !r.t.Failed() {
		if _, limited := r.s.attrs["rate"]; !limited {
			for round := range 2 {
				for _, p := range r.order {
					if !p.ended && !p.sentClose {
						p.sync(r.s.fields, round)
					}
				}
			}
		}
		for _, p := range r.order {
			if p.ended {
				continue
			}
			if !p.sentClose {
				p.writeClose(1000, "")
			}
			for {
				it := p.next(frameWait)
				if it.kind == itemClose || it.kind == itemError {
					break
				}
				if it.kind == itemData {
					r.t.Errorf("%s: %s got a frame after the block's last line: %s", protocolDoc, p.label(), it.show())
				}
			}
		}
	}
	for _, p := range r.order {
		p.stop()
	}
}

// sync sends an echo and reads up to its answer, failing on any frame
// before it.
func (p *peer) sync(f protocol.Fields, round int) {
	ref := fmt.Sprintf("end of block %d", round)
	ev := map[string]any{f.Event: "echo", f.Payload: "end of block", f.Ref: ref}
	p.send(step{kind: "envelope", pat: ev}, nil)
	for {
		it := p.nextFrame()
		if it.kind != itemData {
			p.t.Errorf("%s: %s: the connection ended after the block's last line: %s", protocolDoc, p.label(), it.show())
			return
		}
		if got, err := p.decode(it); err == nil && match(ev, got, bindings{}) {
			return
		}
		p.t.Errorf("%s: %s got a frame after the block's last line: %s", protocolDoc, p.label(), it.show())
	}
}

// item is what a client's reader saw.
type item struct {
	kind   itemKind
	typ    int    // data: gws.TextMessage or gws.BinaryMessage
	data   []byte // data
	code   int    // close
	reason string // close
	err    error  // error
}

type itemKind uint8

const (
	itemData itemKind = iota
	itemPing
	itemClose
	itemError
)

func (it item) show() string {
	switch it.kind {
	case itemData:
		if it.typ == gws.BinaryMessage {
			var v any
			if msgpack.Unmarshal(it.data, &v) == nil {
				b, _ := json.Marshal(v)
				return fmt.Sprintf("binary frame (msgpack) %s", b)
			}
			return fmt.Sprintf("binary frame %q", it.data)
		}
		return string(it.data)
	case itemPing:
		return "ping"
	case itemClose:
		return fmt.Sprintf("close %d %q", it.code, it.reason)
	}
	return fmt.Sprintf("error %v", it.err)
}

// peer is one client connection, read by a goroutine of its own so that
// pings are seen as they come.
type peer struct {
	t         *testing.T
	name      string
	conn      *gws.Conn
	codec     string
	items     chan item
	quit      chan struct{} // closed by stop
	done      chan struct{} // closed when the reader returns
	ended     bool          // the connection is over (closed or dropped)
	sentClose bool
}

func dial(t *testing.T, s *docServer, name string) *peer {
	t.Helper()
	proto := protocol.SubprotocolJSON
	if s.codec == "msgpack" {
		proto = protocol.SubprotocolMsgpack
	}
	d := gws.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: frameWait}
	if s.offer == "none" {
		d.Subprotocols, proto = nil, ""
	}
	u := s.url
	if s.session {
		// The same session on every connection of one client.
		u += "?" + url.Values{protocol.SessionParam: {"doc-session-of-" + name + "-client"}}.Encode()
	}
	conn, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	resp.Body.Close()
	if conn.Subprotocol() != proto {
		t.Fatalf("%s: subprotocol %q, want %q", name, conn.Subprotocol(), proto)
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // a bound on the reader, whatever happens
	p := &peer{t: t, name: name, conn: conn, codec: s.codec, items: make(chan item, 16), quit: make(chan struct{}), done: make(chan struct{})}
	pongs := s.pongs
	conn.SetPingHandler(func(data string) error {
		var err error
		if pongs {
			err = conn.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(frameWait))
		}
		select {
		case p.items <- item{kind: itemPing}:
		default: // a ping is as good as the ones already waiting
		}
		return err
	})
	go p.read()
	return p
}

func (p *peer) label() string {
	if p.name == "" {
		return "the client"
	}
	return p.name
}

func (p *peer) read() {
	defer close(p.done)
	for {
		typ, data, err := p.conn.ReadMessage()
		if err != nil {
			var ce *gws.CloseError
			if errors.As(err, &ce) && ce.Code != gws.CloseAbnormalClosure {
				p.push(item{kind: itemClose, code: ce.Code, reason: ce.Text})
			} else {
				p.push(item{kind: itemError, err: err})
			}
			return
		}
		p.push(item{kind: itemData, typ: typ, data: data})
	}
}

func (p *peer) push(it item) {
	select {
	case p.items <- it:
	case <-p.quit:
	}
}

// next returns the next item, or an error item after wait.
func (p *peer) next(wait time.Duration) item {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case it := <-p.items:
		if it.kind == itemClose || it.kind == itemError {
			p.ended = true
		}
		return it
	case <-t.C:
		return item{kind: itemError, err: fmt.Errorf("nothing within %v", wait)}
	}
}

// nextFrame returns the next item that is not a ping: pings may come at
// any time, and the reader has answered them.
func (p *peer) nextFrame() item {
	for {
		if it := p.next(frameWait); it.kind != itemPing {
			return it
		}
	}
}

// stop closes the connection and waits for the reader.
func (p *peer) stop() {
	close(p.quit)
	p.conn.Close()
	<-p.done
}

func (p *peer) writeClose(code int, reason string) {
	p.sentClose = true
	msg := gws.FormatCloseMessage(code, reason)
	if err := p.conn.WriteControl(gws.CloseMessage, msg, time.Now().Add(frameWait)); err != nil {
		p.t.Fatalf("%s: close: %v", p.label(), err)
	}
}

// send runs a > line.
func (p *peer) send(st step, b bindings) {
	p.t.Helper()
	where := fmt.Sprintf("%s:%d: %s", protocolDoc, st.n, p.label())
	var err error
	switch st.kind {
	case "envelope":
		var v any
		if v, err = fill(st.pat, b); err != nil {
			p.t.Fatalf("%s: %v", where, err)
		}
		if p.codec == "msgpack" {
			var data []byte
			if data, err = msgpack.Marshal(toMsgpack(v)); err == nil {
				err = p.conn.WriteMessage(gws.BinaryMessage, data)
			}
		} else {
			var data []byte
			if data, err = json.Marshal(v); err == nil {
				err = p.conn.WriteMessage(gws.TextMessage, data)
			}
		}
	case "text":
		err = p.conn.WriteMessage(gws.TextMessage, st.raw)
	case "binary":
		err = p.conn.WriteMessage(gws.BinaryMessage, st.raw)
	case "close":
		reason := ""
		if st.reason != nil {
			reason = *st.reason
		}
		p.writeClose(st.code, reason)
	case "drop":
		// The network goes: no close frame. What the server had sent
		// before must have been expected.
		p.conn.NetConn().Close()
		for {
			it := p.next(frameWait)
			if it.kind == itemData {
				p.t.Errorf("%s: a frame the block does not show came before the drop: %s", where, it.show())
				continue
			}
			if it.kind != itemPing {
				break
			}
		}
		p.ended = true
	default:
		p.t.Fatalf("%s: cannot send %s", where, st.kind)
	}
	if err != nil {
		p.t.Fatalf("%s: send: %v", where, err)
	}
}

// expect runs a < line.
func (p *peer) expect(st step, b bindings) {
	p.t.Helper()
	where := fmt.Sprintf("%s:%d: %s", protocolDoc, st.n, p.label())
	switch st.kind {
	case "ping":
		for {
			it := p.next(frameWait)
			if it.kind == itemPing {
				return
			}
			p.t.Fatalf("%s: waiting for a ping, got %s", where, it.show())
		}
	case "close":
		it := p.nextFrame()
		if it.kind != itemClose || it.code != st.code || (st.reason != nil && it.reason != *st.reason) {
			p.t.Fatalf("%s: want close %d %s, got %s", where, st.code, showReason(st.reason), it.show())
		}
	case "envelope":
		it := p.nextFrame()
		got, err := p.decode(it)
		if err != nil {
			p.t.Fatalf("%s: want %s, got %s: %v", where, showPattern(st.pat), it.show(), err)
		}
		if !match(st.pat, got, b) {
			p.t.Fatalf("%s: want %s, got %s (bound so far: %v)", where, showPattern(st.pat), it.show(), b)
		}
	default:
		p.t.Fatalf("%s: cannot expect %s", where, st.kind)
	}
}

// expectAnyOrder runs a run of <~ lines: as many frames, in any order.
func (p *peer) expectAnyOrder(steps []step, b bindings) {
	p.t.Helper()
	where := fmt.Sprintf("%s:%d: %s", protocolDoc, steps[0].n, p.label())
	var pats, got []any
	var shown []string
	for _, st := range steps {
		pats = append(pats, st.pat)
		it := p.nextFrame()
		v, err := p.decode(it)
		if err != nil {
			p.t.Fatalf("%s: want one of %d frames, got %s: %v", where, len(steps), it.show(), err)
		}
		got = append(got, v)
		shown = append(shown, it.show())
	}
	if !matchAny(pats, got, b) {
		var want []string
		for _, pat := range pats {
			want = append(want, showPattern(pat))
		}
		p.t.Fatalf("%s: want, in any order,\n\t%s\ngot\n\t%s\n(bound so far: %v)", where, strings.Join(want, "\n\t"), strings.Join(shown, "\n\t"), b)
	}
}

// decode turns a data frame into a value to match: a JSON envelope in a
// text frame, or a msgpack one in a binary frame, decoded as if it were
// JSON.
func (p *peer) decode(it item) (any, error) {
	if it.kind != itemData {
		return nil, errors.New("not a data frame")
	}
	if p.codec == "msgpack" {
		if it.typ != gws.BinaryMessage {
			return nil, errors.New("a msgpack connection got a text frame")
		}
		var v any
		if err := msgpack.Unmarshal(it.data, &v); err != nil {
			return nil, err
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return decodeJSON(data)
	}
	if it.typ != gws.TextMessage {
		return nil, errors.New("a JSON connection got a binary frame")
	}
	return decodeJSON(it.data)
}

// toMsgpack turns JSON numbers into Go numbers for the msgpack encoder.
func toMsgpack(v any) any {
	out, _ := mapLeaves(v, func(leaf any) (any, error) {
		n, ok := leaf.(json.Number)
		if !ok {
			return leaf, nil
		}
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
			return u, nil
		}
		return n.Float64()
	})
	return out
}

// showPattern renders a pattern for a failure message.
func showPattern(pat any) string {
	v, _ := mapLeaves(pat, func(leaf any) (any, error) {
		p, ok := leaf.(placeholder)
		switch {
		case !ok:
			return leaf, nil
		case p.number:
			return "$" + p.name + " (a number)", nil
		}
		return "$" + p.name, nil
	})
	b, _ := json.Marshal(v)
	return string(b)
}

func showReason(r *string) string {
	if r == nil {
		return "(any reason)"
	}
	return strconv.Quote(*r)
}

// negotiate runs a subprotocols block: each line is "offered -> chosen",
// with "(none)" for no subprotocol.
func negotiate(t *testing.T, b docBlock) {
	s := startDocServer(t, b.attrs)
	n := 0
	for _, l := range b.lines {
		text := strings.TrimSpace(l.text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		offeredText, chosen, ok := strings.Cut(text, "->")
		if !ok {
			t.Fatalf("%s:%d: want \"offered -> chosen\"", protocolDoc, l.n)
		}
		var offered []string
		for o := range strings.SplitSeq(offeredText, ",") {
			if o = strings.TrimSpace(o); o != "(none)" {
				offered = append(offered, o)
			}
		}
		if chosen = strings.TrimSpace(chosen); chosen == "(none)" {
			chosen = ""
		}
		d := gws.Dialer{Subprotocols: offered, HandshakeTimeout: frameWait}
		conn, resp, err := d.Dial(s.url, nil)
		if err != nil {
			t.Fatalf("%s:%d: dial: %v", protocolDoc, l.n, err)
		}
		resp.Body.Close()
		if got := conn.Subprotocol(); got != chosen {
			t.Errorf("%s:%d: offered %q, the server chose %q, want %q", protocolDoc, l.n, offered, got, chosen)
		}
		conn.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(frameWait)) //nolint:errcheck // the read below ends either way
		conn.SetReadDeadline(time.Now().Add(frameWait))                                                  //nolint:errcheck
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				break
			}
		}
		conn.Close()
		n++
	}
	if n == 0 {
		t.Fatalf("%s:%d: an empty block", protocolDoc, b.line)
	}
}
