package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

type msg struct {
	A string `json:"a"`
	N int    `json:"n"`
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, msg{"x", 3}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&buf, msg{"y", 4}); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	var m msg
	if err := Read(r, 1024, &m); err != nil || m != (msg{"x", 3}) {
		t.Fatalf("first = %+v, %v", m, err)
	}
	if err := Read(r, 1024, &m); err != nil || m != (msg{"y", 4}) {
		t.Fatalf("second = %+v, %v", m, err)
	}
	if err := Read(r, 1024, &m); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("at end: %v", err)
	}
}

func TestHostileFrames(t *testing.T) {
	var big bytes.Buffer
	if err := Write(&big, msg{A: string(make([]byte, 100))}); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"too large":  big.Bytes(),
		"truncated":  {10, '{', '"'},
		"bad json":   {3, 'a', 'b', 'c'},
		"unknown":    append([]byte{8}, `{"z": 1}`...),
		"trailing":   append([]byte{4}, `{}{}`...),
		"bad varint": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, in := range cases {
		var m msg
		if err := Read(bufio.NewReader(bytes.NewReader(in)), 64, &m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = Write(&buf, msg{"seed", 1})
	f.Add(buf.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		var m msg
		if err := Read(bufio.NewReader(bytes.NewReader(in)), 4096, &m); err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same value.
		var out bytes.Buffer
		if err := Write(&out, m); err != nil {
			t.Fatal(err)
		}
		var m2 msg
		if err := Read(bufio.NewReader(&out), 1<<20, &m2); err != nil || m2 != m {
			t.Fatalf("re-decode %+v -> %+v, %v", m, m2, err)
		}
	})
}
