// Package e2e drives the chat example's page in headless Chromium. It is a
// module of its own so that the browser driver never enters the library's
// go.mod; .ci/run runs it with Debian's chromium installed.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

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

func TestChatPageInChromium(t *testing.T) {
	path := chromium(t)
	addr := wstest.StartExampleIn(t, "..")
	base := "http://" + addr + "/?room=lobby&name="

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
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
		waitText("#log", "refused: pick a name of 1 to 40 characters")); err != nil {
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
