// Package e2e drives the chat example's page in headless Chromium. It is a
// module of its own so that the browser driver never enters the library's
// go.mod; .ci/run runs it with Debian's chromium installed.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-go/switchboard/internal/tcpproxy"
	"github.com/switchboard-go/switchboard/internal/wstest"
)

func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is missing (apt-get install chromium)")
		}
		t.Skip("chromium not installed; apt-get install chromium")
	}
	return path
}

// waitText polls until the element's text contains all of want.
func waitText(sel string, want ...string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var text string
		for {
			if err := chromedp.Text(sel, &text, chromedp.ByQuery).Do(ctx); err != nil {
				return err
			}
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(text, w)
			}
			if ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func say(text string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitEnabled("#text", chromedp.ByQuery),
		chromedp.SetValue("#text", text, chromedp.ByQuery),
		chromedp.Click("#send", chromedp.ByQuery),
	}
}

// profile makes the browser's profile directory and removes it once the
// test is over. Not t.TempDir: Chromium's helper processes can still be
// writing to it after the browser has exited, and t.TempDir fails the test
// when its removal finds a file that appeared meanwhile; this tries again
// for up to 5 s and then only logs.
func profile(t *testing.T) string {
	dir, err := os.MkdirTemp("", "chat-e2e-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("browser profile %s left behind: %v", dir, err)
	})
	return dir
}

// browser starts a headless Chromium for the test, with 90 s to run.
func browser(t *testing.T, path string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile(t)),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	return alloc
}

func TestChatPageInChromium(t *testing.T) {
	path := chromium(t)
	addr := wstest.StartExampleIn(t, "..")
	base := "http://" + addr + "/?room=lobby&name="

	alloc := browser(t, path)
	ada, cancelAda := chromedp.NewContext(alloc)
	defer cancelAda()
	if err := chromedp.Run(ada, chromedp.Navigate(base+"ada"), waitText("#online", "ada")); err != nil {
		t.Fatalf("ada's page: %v", err)
	}
	bob, cancelBob := chromedp.NewContext(ada) // a second tab of the same browser
	defer cancelBob()
	if err := chromedp.Run(bob, chromedp.Navigate(base+"bob"), waitText("#online", "ada", "bob")); err != nil {
		t.Fatalf("bob's page: %v", err)
	}
	if err := chromedp.Run(ada, waitText("#online", "ada", "bob")); err != nil {
		t.Fatalf("ada does not see bob online: %v", err)
	}
	if err := chromedp.Run(ada, say("hello from ada")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(bob, waitText("#log", "hello from ada"), say("hi ada")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := chromedp.Run(ada, waitText("#log", "hi ada")); err != nil {
		t.Fatalf("ada: %v", err)
	}
	// A reloaded page shows what was said before.
	if err := chromedp.Run(bob, chromedp.Reload(), waitText("#log", "hello from ada", "hi ada")); err != nil {
		t.Fatalf("after reload: %v", err)
	}

	// The page and the server agree on names: 1 to 40 characters once
	// trimmed. Forty characters of two bytes each are a name for both.
	carol, cancelCarol := chromedp.NewContext(ada)
	defer cancelCarol()
	long := strings.Repeat("é", 40)
	if err := chromedp.Run(carol, chromedp.Navigate(base+long), waitText("#online", long)); err != nil {
		t.Fatalf("a name of 40 characters (80 bytes): %v", err)
	}
	// A name of spaces is refused, and the page says why.
	dan, cancelDan := chromedp.NewContext(ada)
	defer cancelDan()
	if err := chromedp.Run(dan, chromedp.Navigate("http://"+addr+"/"),
		chromedp.SetValue("#name", "   ", chromedp.ByQuery),
		chromedp.Click("#login button", chromedp.ByQuery),
		waitText("#login-error", "Pick a name of 1 to 40 characters.")); err != nil {
		t.Fatalf("a name of spaces: %v", err)
	}
	// A connection the server refuses reaches switchboard.js as a
	// refusal with the server's reason, not as a drop to retry.
	var reason string
	refused := `import("/switchboard.js").then(({ Switchboard }) => new Promise((resolve) => {
		const sb = new Switchboard("ws://" + location.host + "/ws?name=%20");
		sb.on("refused", (p) => resolve(p.code + " " + p.reason));
	}))`
	if err := chromedp.Run(dan, chromedp.Evaluate(refused, &reason, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil || reason != "1008 pick a name of 1 to 40 characters" {
		t.Fatalf("a refused connection: %q %v", reason, err)
	}
}

// TestChatPageRoomsAndConnection: own messages marked, join and leave
// notices, rooms joined, switched and left with unread counts, the
// banner while the network is gone, what was said meanwhile and how much
// of it the history no longer held after it came back, and a
// phone-sized window that shows the messages.
func TestChatPageRoomsAndConnection(t *testing.T) {
	path := chromium(t)
	addr := wstest.StartExampleIn(t, "..", "-history", "2")
	network := tcpproxy.Start(t, addr) // ada's way to the server, which the test cuts
	alloc := browser(t, path)

	ada, cancelAda := chromedp.NewContext(alloc)
	defer cancelAda()
	if err := chromedp.Run(ada, chromedp.Navigate("http://"+network.Addr()+"/?room=lobby&name=ada"), waitText("#online", "ada")); err != nil {
		t.Fatalf("ada's page: %v", err)
	}
	bob, cancelBob := chromedp.NewContext(ada)
	defer cancelBob()
	if err := chromedp.Run(bob, chromedp.Navigate("http://"+addr+"/?room=lobby&name=bob"), waitText("#online", "ada", "bob")); err != nil {
		t.Fatalf("bob's page: %v", err)
	}
	if err := chromedp.Run(ada, waitText("#log", "bob joined"), say("mine, said by ada"), waitText("#log .own", "mine, said by ada")); err != nil {
		t.Fatalf("ada's own message: %v", err)
	}
	var marked int
	if err := chromedp.Run(bob, waitText("#log", "mine, said by ada"),
		chromedp.Evaluate(`document.querySelectorAll("#log .own").length`, &marked)); err != nil || marked != 0 {
		t.Fatalf("bob's page marks %d messages as his own: %v", marked, err)
	}

	// ada joins a second room, which becomes the one shown; what bob says
	// in the lobby meanwhile is counted as unread, and shown on switching
	// back; then she leaves the kitchen.
	if err := chromedp.Run(ada,
		chromedp.SetValue("#join-room", "kitchen", chromedp.ByQuery),
		chromedp.Click("#join-form button", chromedp.ByQuery),
		waitText("#room-title", "#kitchen"),
		waitText("#rooms", "#lobby", "#kitchen")); err != nil {
		t.Fatalf("joining a second room: %v", err)
	}
	if err := chromedp.Run(bob, say("while ada is in the kitchen")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ada,
		waitText(`#rooms li[data-room="lobby"] .unread`, "1"),
		chromedp.Click(`#rooms li[data-room="lobby"] .room`, chromedp.ByQuery),
		waitText("#room-title", "#lobby"),
		waitText("#log", "while ada is in the kitchen"),
		chromedp.Click(`#rooms li[data-room="kitchen"] .leave`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#rooms li[data-room="kitchen"]`, chromedp.ByQuery)); err != nil {
		t.Fatalf("switching and leaving rooms: %v", err)
	}

	// ada's network goes away: the banner says so, bob says three things
	// of which the room's history (of 2) keeps the last two, and once the
	// network is back ada gets those, a notice of the one she missed, and
	// the banner goes.
	network.Cut()
	if err := chromedp.Run(ada, waitText("#banner", "Connection lost")); err != nil {
		t.Fatalf("no banner after a drop: %v", err)
	}
	if err := chromedp.Run(bob, say("lost while ada was away"), waitText("#log", "lost while ada was away"),
		say("kept while ada was away"), waitText("#log", "kept while ada was away"),
		say("said while ada was away"), waitText("#log", "said while ada was away")); err != nil {
		t.Fatal(err)
	}
	network.Restore()
	if err := chromedp.Run(ada, chromedp.WaitNotVisible("#banner", chromedp.ByQuery),
		waitText("#log", "1 message was missed", "kept while ada was away", "said while ada was away")); err != nil {
		t.Fatalf("after the network came back: %v", err)
	}
	var lost bool
	if err := chromedp.Run(ada, chromedp.Evaluate(`document.getElementById("log").textContent.includes("lost while ada was away")`, &lost)); err != nil || lost {
		t.Errorf("ada's page shows a message the history no longer held (%v)", err)
	}

	// At 390 x 844 the messages take the width, and the rooms open from
	// the header. (This page speaks msgpack.)
	phone, cancelPhone := chromedp.NewContext(ada)
	defer cancelPhone()
	var layout struct {
		Log     float64 `json:"log"`
		Sidebar string  `json:"sidebar"`
	}
	measure := chromedp.Evaluate(`({log: document.getElementById("log").getBoundingClientRect().width,
		sidebar: getComputedStyle(document.getElementById("sidebar")).display})`, &layout)
	// Nothing on the page fails: no exception, no error in the console.
	var mu sync.Mutex
	var failures []string
	chromedp.ListenTarget(phone, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			failures = append(failures, ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				failures = append(failures, "console.error")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				failures = append(failures, ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	})
	if err := chromedp.Run(phone, cdplog.Enable(), chromedp.EmulateViewport(390, 844),
		chromedp.Navigate("http://"+addr+"/?room=lobby&name=carol&codec=msgpack"), waitText("#log", "said while ada was away"), measure); err != nil {
		t.Fatalf("phone: %v", err)
	}
	if layout.Log < 350 || layout.Sidebar != "none" {
		t.Errorf("at 390 px the message list is %.0f px wide and the rooms' display is %q", layout.Log, layout.Sidebar)
	}
	if err := chromedp.Run(phone, chromedp.Click("#rooms-toggle", chromedp.ByQuery), measure); err != nil || layout.Sidebar == "none" {
		t.Errorf("the rooms button does not open the rooms: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("the page logged errors: %q", failures)
	}
}
