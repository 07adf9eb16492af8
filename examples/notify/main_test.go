package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/wstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNotify(t *testing.T) {
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newMux(box, "s3cret"))
	defer func() {
		box.Close(context.Background())
		srv.Close()
	}()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	if _, resp, err := gws.DefaultDialer.Dial(wsURL, nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v", err)
	}
	var phones []*gws.Conn
	var ids []string
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer ada"}}} {
		u := wsURL
		if h == nil {
			u += "?token=ada"
		}
		c, _, err := gws.DefaultDialer.Dial(u, h)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hello map[string]string
		if err := c.ReadJSON(&hello); err != nil || hello["user"] != "ada" {
			t.Fatalf("hello %v %v", hello, err)
		}
		phones = append(phones, c)
		ids = append(ids, hello["connection_id"])
	}
	if code, m := call("GET", "/online/ada", ""); code != 200 || m["online"] != true {
		t.Errorf("online: %d %v", code, m)
	}
	if code, m := call("POST", "/notify/ada", "build passed"); code != 200 || m["devices"] != float64(2) {
		t.Errorf("notify: %d %v", code, m)
	}
	for _, c := range phones {
		if _, d, err := c.ReadMessage(); err != nil || string(d) != "build passed" {
			t.Errorf("phone got %q %v", d, err)
		}
	}
	if code, _ := call("POST", "/publish/"+ids[1], "just you"); code != 200 {
		t.Errorf("publish: %d", code)
	}
	if _, d, _ := phones[1].ReadMessage(); string(d) != "just you" {
		t.Errorf("publish delivered %q", d)
	}
	if code, _ := call("POST", "/publish/nobody", "x"); code != 404 {
		t.Errorf("publish to nobody: %d", code)
	}
	for _, c := range phones {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, m := call("GET", "/online/ada", "")
		if m["online"] == false {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ada still online after her devices left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const pythonClient = `
import asyncio, json, sys, urllib.request
import websockets

async def main(host):
    async with websockets.connect("ws://" + host + "/ws?token=py") as ws:
        hello = json.loads(await ws.recv())
        assert hello["user"] == "py", hello
        req = urllib.request.Request("http://" + host + "/notify/py", data=b"ping", method="POST",
                                     headers={"Authorization": "Bearer s3cret"})
        urllib.request.urlopen(req).read()
        assert await ws.recv() == "ping"
    print("python client: all good")

asyncio.run(main(sys.argv[1]))
`

func TestNotifyWithPythonClient(t *testing.T) {
	wstest.Python(t) // skip before building when python3-websockets is missing
	addr := wstest.StartExample(t, "-secret", "s3cret")
	wstest.RunPython(t, pythonClient, addr)
}

// The HTTP endpoints take the shared secret: a cross-site form post (a
// text/plain body from another origin, which no browser gives an
// Authorization header) and a wrong secret get 401 and deliver nothing.
func TestNotifyNeedsTheSecret(t *testing.T) {
	srv, c, hello := adaConnected(t)
	for _, tc := range []struct {
		name, method, path, auth string
	}{
		{"cross-site form", "POST", "/notify/ada", ""},
		{"wrong secret", "POST", "/notify/ada", "Bearer guess"},
		{"the token of a user", "POST", "/notify/ada", "Bearer ada"},
		{"publish without it", "POST", "/publish/" + hello["connection_id"], ""},
		{"online without it", "GET", "/online/ada", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("evil=1"))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("Origin", "http://evil.example")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	// Nothing reached ada: the next message she gets is the one sent
	// with the secret.
	req, _ := http.NewRequest("POST", srv.URL+"/notify/ada", strings.NewReader("with the secret"))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with the secret: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, d, err := c.ReadMessage(); err != nil || string(d) != "with the secret" {
		t.Errorf("ada got %q %v", d, err)
	}
}

// A body that is not UTF-8 text is the caller's mistake: 400 in plain
// words, and nothing reaches the user.
func TestNotifyRefusesInvalidUTF8(t *testing.T) {
	srv, c, hello := adaConnected(t)
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, path := range []string{"/notify/ada", "/publish/" + hello["connection_id"]} {
		if code, msg := post(path, "\xff\xfe"); code != http.StatusBadRequest || msg != "the message must be UTF-8 text" {
			t.Errorf("%s: %d %q", path, code, msg)
		}
	}
	if code, _ := post("/notify/ada", "fine"); code != 200 {
		t.Fatalf("a valid body: %d", code)
	}
	if _, d, err := c.ReadMessage(); err != nil || string(d) != "fine" {
		t.Errorf("ada got %q %v", d, err)
	}
}

// adaConnected serves the example with the secret "s3cret" and connects
// ada, returning the server, her connection and the greeting she got.
func adaConnected(t *testing.T) (*httptest.Server, *gws.Conn, map[string]string) {
	t.Helper()
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newMux(box, "s3cret"))
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	c, _, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?token=ada", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello map[string]string
	if err := c.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	return srv, c, hello
}
