package redisbroker_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// lossClient reads a room as switchboard.js does: it keeps the room's
// (epoch, offset) and drops a message only when it is of the same epoch
// at or below the offset; a message without an epoch is taken to be of
// the epoch it has. It notes whether it was told that messages may be
// missing: a message of another epoch, a close, or recovered: false.
type lossClient struct {
	mu    sync.Mutex
	got   map[int]bool
	told  []string
	epoch string
	last  uint64
	want  int // the last acknowledged message, once the publisher is done
	done  chan struct{}
	quiet time.Duration // the silence that ends reading; 3s when 0
}

func (l *lossClient) read(c *eventClient, room string) {
	defer close(l.done)
	for {
		var m struct {
			Event   string          `json:"event"`
			Room    string          `json:"room"`
			Offset  uint64          `json:"offset"`
			Epoch   *string         `json:"epoch"`
			Payload json.RawMessage `json:"payload"`
		}
		quiet := l.quiet
		if quiet == 0 {
			quiet = 3 * time.Second
		}
		c.conn.SetReadDeadline(time.Now().Add(quiet))
		_, data, err := c.conn.ReadMessage()
		l.mu.Lock()
		if err != nil {
			// A close tells the client; silence until the deadline does not.
			var ce *gws.CloseError
			if errors.As(err, &ce) {
				l.told = append(l.told, "closed: "+err.Error())
			}
			l.mu.Unlock()
			return
		}
		if json.Unmarshal(data, &m) != nil || m.Room != room || m.Event != "message" {
			l.mu.Unlock()
			continue
		}
		epoch := l.epoch
		if m.Epoch != nil {
			epoch = *m.Epoch
		}
		switch {
		case epoch != l.epoch:
			l.told = append(l.told, "epoch "+l.epoch+" -> "+epoch)
		case m.Offset <= l.last:
			l.mu.Unlock()
			continue // a duplicate, as far as the client can tell
		}
		l.epoch, l.last = epoch, m.Offset
		var p struct{ I int }
		json.Unmarshal(m.Payload, &p) //nolint:errcheck // checked by got
		l.got[p.I] = true
		end := l.want != 0 && l.got[l.want]
		l.mu.Unlock()
		if end {
			return
		}
	}
}

// After Redis loses a room's saved data without a disconnect (FLUSHALL,
// the room's keys deleted, one of them deleted as eviction may, eviction
// under maxmemory), offsets start again in a new epoch: a member that
// drops what it believes it saw must see the epoch change on the
// messages, or it silently loses what the server acknowledged.
func TestNoSilentLossWhenRedisLosesData(t *testing.T) {
	const room, n = "r", 300
	prefix := redisbroker.DefaultPrefix
	var limit string // the eviction case's maxmemory
	cases := []struct {
		name string
		lose func(*redistest.Server) error
		prep func(*testing.T, *redistest.Server)
	}{
		{name: "flushall", lose: func(rs *redistest.Server) error { return cmd(rs, "FLUSHALL") }},
		{name: "group keys deleted", lose: func(rs *redistest.Server) error { return cmd(rs, "DEL", prefix+"m:"+room, prefix+"h:"+room) }},
		{name: "counter and epoch lost", lose: func(rs *redistest.Server) error { return cmd(rs, "DEL", prefix+"m:"+room) }},
		{name: "offset counter lost", lose: func(rs *redistest.Server) error { return cmd(rs, "HDEL", prefix+"m:"+room, "o") }},
		{name: "epoch lost", lose: func(rs *redistest.Server) error { return cmd(rs, "HDEL", prefix+"m:"+room, "e") }},
		{name: "history lost", lose: func(rs *redistest.Server) error { return cmd(rs, "DEL", prefix+"h:"+room) }},
		{name: "eviction", prep: func(t *testing.T, rs *redistest.Server) {
			// Little room above what the server holds once the node is
			// up: the room's history and counter get evicted.
			limit = strconv.Itoa(info(t, rs, "used_memory") + 1<<20)
			for _, kv := range [][2]string{{"maxmemory-policy", "allkeys-lru"}, {"maxmemory", limit}} {
				if err := cmd(rs, "CONFIG", "SET", kv[0], kv[1]); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				cmd(rs, "CONFIG", "SET", "maxmemory", "0")                 //nolint:errcheck // the server stops anyway
				cmd(rs, "CONFIG", "SET", "maxmemory-policy", "noeviction") //nolint:errcheck
			})
		}, lose: func(rs *redistest.Server) error {
			// Which keys LRU picks depends on timing; at its tightest
			// it evicts them all, the room's counter included.
			if err := cmd(rs, "CONFIG", "SET", "maxmemory", "1"); err != nil {
				return err
			}
			for i := 0; i < 100; i++ {
				if line, err := rs.Command("DBSIZE"); err != nil || line == ":0" {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			return cmd(rs, "CONFIG", "SET", "maxmemory", limit)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := redistest.Start(t)
			nd := newNode(t, rs.URL(), nil, &channels.Options{HistorySize: 10000})
			x := nd.events("x")
			j := x.join(room, nil)
			l := &lossClient{got: make(map[int]bool), done: make(chan struct{})}
			l.epoch, l.last = joinedPos(j).Epoch, joinedPos(j).Offset
			if tc.prep != nil {
				tc.prep(t, rs)
			}
			go l.read(x, room)
			pad := strings.Repeat("x", 4096)
			acked := make(map[int]channels.Position)
			last := 0
			var firstErr error
			for i := 1; i <= n; i++ {
				if i == n/2 && tc.lose != nil {
					if err := tc.lose(rs); err != nil {
						t.Fatal(err)
					}
				}
				var pos channels.Position
				_, err := events.EmitToRoom(ctx, nd.box, protocol.DefaultFields(), room, "message",
					map[string]any{"i": i, "pad": pad}, channels.ReportPosition(&pos))
				switch {
				case err == nil && pos.Offset != 0:
					acked[i], last = pos, i
				case tc.prep == nil:
					// Redis is up and has room: a publish that fails
					// leaves the room unusable.
					t.Fatalf("publish %d: %v", i, err)
				case firstErr == nil:
					firstErr = err // out of memory, not acknowledged
				}
			}
			if len(acked) < n/2 {
				t.Fatalf("only %d of %d messages acknowledged: %v", len(acked), n, firstErr)
			}
			l.mu.Lock()
			l.want = last
			end := l.got[last]
			l.mu.Unlock()
			if !end {
				<-l.done // the last one, a read error, or 3s of silence
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			var missing []int
			for i := 1; i <= n; i++ {
				if _, ok := acked[i]; ok && !l.got[i] {
					missing = append(missing, i)
				}
			}
			if len(missing) > 0 && len(l.told) == 0 {
				t.Errorf("%d of %d acknowledged messages silently lost (first %d at %+v)", len(missing), len(acked), missing[0], acked[missing[0]])
			}
			t.Logf("acknowledged %d, missing %d, told %d times %q", len(acked), len(missing), len(l.told), l.told[:min(len(l.told), 3)])
		})
	}
}

func cmd(rs *redistest.Server, args ...string) error {
	line, err := rs.Command(args...)
	if err == nil && strings.HasPrefix(line, "-") {
		err = errors.New(line)
	}
	return err
}

// info returns an integer field of INFO memory.
func info(t *testing.T, rs *redistest.Server, field string) int {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no %s in INFO memory", field)
	return 0
}

// Redis goes back in a room's offsets while a node is cut off, as when a
// replica that had not received the last saved messages takes over from
// its master: the counter and the history lose their last ten entries
// and keep the epoch. The member is told (closed to rejoin), and a
// rejoin from the position it had, made once newer messages have taken
// those offsets again, is answered recovered: false, not a "recovery"
// that skips the new messages at the reused offsets.
func TestRollbackStartsANewEpoch(t *testing.T) {
	t.Parallel()
	const room = "r"
	prefix := redisbroker.DefaultPrefix
	rs := redistest.Start(t)
	p := rs.Proxy(t)
	nd := newNode(t, p.URL(), nil, &channels.Options{HistorySize: 1000})
	x := nd.events("x")
	x.join(room, nil)
	var pos channels.Position
	for i := 1; i <= 20; i++ {
		if _, err := events.EmitToRoom(ctx, nd.box, protocol.DefaultFields(), room, "message",
			map[string]int{"i": i}, channels.ReportPosition(&pos)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 20; i++ {
		if e := x.next(); e.Payload["i"] != float64(i) {
			t.Fatalf("message %d: %+v", i, e)
		}
	}

	p.Cut()
	if err := cmd(rs, "HSET", prefix+"m:"+room, "o", strconv.FormatUint(pos.Offset-10, 10)); err != nil {
		t.Fatal(err)
	}
	for o := pos.Offset - 9; o <= pos.Offset; o++ {
		if err := cmd(rs, "XDEL", prefix+"h:"+room, strconv.FormatUint(o, 10)+"-1"); err != nil {
			t.Fatal(err)
		}
	}
	p.Restore()

	// The member is closed to rejoin.
	readUntilRestart(t, x.conn, "the member's connection")
	// The node, back, finds the room's offsets gone back and starts a new
	// epoch. (Had newer messages passed its position first, it could not
	// tell: see "Redis Cluster" in the package doc.)
	eventually(t, "a new epoch", func() bool {
		_, top, _, err := nd.broker.History(ctx, room, &channels.Position{Offset: channels.PositionOnly})
		return err == nil && top.Epoch != pos.Epoch
	})
	// Newer messages take the lost offsets and more.
	for i := 100; i <= 120; i++ {
		if _, err := events.EmitToRoom(ctx, nd.box, protocol.DefaultFields(), room, "message",
			map[string]int{"i": i}, channels.Confirm()); err != nil {
			t.Fatal(err)
		}
	}
	y := nd.events("y")
	j := y.join(room, &pos)
	if j.Payload["recovered"] != false || joinedPos(j).Epoch == pos.Epoch {
		t.Errorf("rejoin from %+v after the rollback: %+v", pos, j)
	}
}
