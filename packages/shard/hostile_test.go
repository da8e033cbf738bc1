package shard

import (
	"bufio"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

// TestHostileHolder points a real Client at a host whose handler misbehaves
// in the ways a broken or malicious holder can: every case must end in a
// clear error, quickly, without a crash.
func TestHostileHolder(t *testing.T) {
	data := randBytes(t, 1<<20)
	id := Sum(data)
	frame := func(r *response) []byte { return appendFrame(nil, r.marshal()) }
	cases := []struct {
		name    string
		handler func(s network.Stream)
		call    func(ctx context.Context, c *Client, n *holderHost) error
		want    error
	}{
		{"get: truncated shard", func(s network.Stream) {
			s.Write(frame(&response{code: codeOK, size: 1000}))
			s.Write(make([]byte, 10))
			s.Close()
		}, getCall(id), ErrProtocol},
		{"get: wrong bytes", func(s network.Stream) {
			s.Write(frame(&response{code: codeOK, size: 1000}))
			s.Write(make([]byte, 1000))
			s.Close()
		}, getCall(id), ErrHashMismatch},
		{"get: garbage response", func(s network.Stream) {
			s.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
			s.Close()
		}, getCall(id), ErrProtocol},
		{"get: size over the limit", func(s network.Stream) {
			b := (&response{code: codeOK}).marshal()
			b[1], b[2], b[3], b[4] = 0, 0, 0, 0xff
			s.Write(appendFrame(nil, b))
			s.Close()
		}, getCall(id), ErrProtocol},
		{"get: huge frame", func(s network.Stream) {
			s.Write([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
			s.Close()
		}, getCall(id), ErrProtocol},
		{"get: silence then close", func(s network.Stream) {
			s.Close()
		}, getCall(id), ErrProtocol},
		{"get: continue instead of ok", func(s network.Stream) {
			s.Write(frame(&response{code: codeContinue}))
			s.Close()
		}, getCall(id), ErrProtocol},
		{"has: wrong answer count", func(s network.Stream) {
			s.Write(frame(&response{code: codeOK, have: []bool{true, true, true}}))
			s.Close()
		}, func(ctx context.Context, c *Client, n *holderHost) error {
			_, err := c.Has(ctx, n.h.ID(), []ID{id})
			return err
		}, ErrProtocol},
		{"put: holder goes away mid-put", func(s network.Stream) {
			br := bufio.NewReader(s)
			readRequest(br)
			s.Write(frame(&response{code: codeContinue}))
			io.CopyN(io.Discard, br, 300_000)
			s.Reset()
		}, putCall(id, data), nil},
		{"put: remote refusal is typed", func(s network.Stream) {
			s.Write(frame(&response{code: codeRefused, msg: "refused: \x1b[31mred\x00"}))
			s.Close()
		}, putCall(id, data), ErrRefused},
		{"put: unknown code", func(s network.Stream) {
			s.Write(frame(&response{code: 200}))
			s.Close()
		}, putCall(id, data), ErrProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newHolderHost(t, tc.handler)
			c := NewClient(n.client).WithOwner(newOwnerKey(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx, c, n)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
			for _, r := range err.Error() {
				if r < 0x20 {
					t.Fatalf("control character in error %q", err)
				}
			}
		})
	}
}

// holderHost is a holder host running a given handler, and a client host
// connected to it.
type holderHost struct {
	h, client host.Host
}

func newHolderHost(t *testing.T, handler network.StreamHandler) *holderHost {
	n := &holderHost{h: p2ptest.Host(t), client: p2ptest.Host(t)}
	n.h.SetStreamHandler(Protocol, func(s network.Stream) {
		s.SetDeadline(time.Now().Add(10 * time.Second))
		handler(s)
	})
	p2ptest.Connect(t, n.client, n.h)
	return n
}

func getCall(id ID) func(context.Context, *Client, *holderHost) error {
	return func(ctx context.Context, c *Client, n *holderHost) error {
		_, err := c.Get(ctx, n.h.ID(), id)
		return err
	}
}

func putCall(id ID, data []byte) func(context.Context, *Client, *holderHost) error {
	return func(ctx context.Context, c *Client, n *holderHost) error {
		return c.Put(ctx, n.h.ID(), id, data)
	}
}
