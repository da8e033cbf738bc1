package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"oepc.dev/oepcos/packages/apitype"
)

// On a terminal, `cloud put` shows the box's own progress of the put (its
// transfer events: segments sealed and placed) beside the bytes sent.
func TestPutShowsTheBoxsProgress(t *testing.T) {
	subscribed := make(chan struct{})
	events := make(chan apitype.Transfer, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/cloud/transfers/events":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			close(subscribed)
			for {
				select {
				case <-r.Context().Done():
					return
				case tr := <-events:
					b, _ := json.Marshal(tr)
					fmt.Fprintf(w, "event: transfer\ndata: %s\n\n", b)
					w.(http.Flusher).Flush()
				}
			}
		case "/v1/cloud/put":
			id := r.URL.Query().Get("transfer")
			if id == "" {
				http.Error(w, `{"error":"no transfer ID"}`, http.StatusBadRequest)
				return
			}
			n, _ := io.Copy(io.Discard, r.Body)
			select {
			case <-subscribed:
			case <-time.After(10 * time.Second):
			}
			events <- apitype.Transfer{ID: "another", SegmentsTotal: 9, SegmentsSealed: 9, SegmentsPlaced: 9}
			events <- apitype.Transfer{ID: id, SegmentsTotal: 2, SegmentsSealed: 2, SegmentsPlaced: 2, Placed: n, Total: n, State: apitype.TransferDone}
			time.Sleep(300 * time.Millisecond) // the event reaches the CLI before the answer
			json.NewEncoder(w).Encode(apitype.Entry{Path: "/f.bin", ID: "00", Size: n, K: 4, M: 2})
		}
	}))
	defer srv.Close()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pseudo-terminal:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var term bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&term, ptmx); close(copied) }()
	local := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(local, bytes.Repeat([]byte("x"), 3<<20), 0o600)
	var out bytes.Buffer
	code := Main(context.Background(), []string{"--box", srv.URL, "--token", "tok", "cloud", "put", local, "/f.bin"},
		Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: tty})
	tty.Close()
	<-copied
	if code != 0 || !strings.Contains(out.String(), "/f.bin") {
		t.Fatalf("exit %d, out %q, terminal %q", code, out.String(), term.String())
	}
	if s := term.String(); !strings.Contains(s, "box: 2/2 segments sealed, 2 placed") || strings.Contains(s, "9/9") {
		t.Fatalf("the terminal showed %q", s)
	}
}
