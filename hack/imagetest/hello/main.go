// Command hello is the only program of the bare gokrazy image the benchmark
// boots beside the OEPC image. Like oepcd's local API it answers HTTP on
// :7070, so both boots are timed to the same kind of event: the first HTTP
// answer of a user program through the same QEMU port forward.
package main

import (
	"log"
	"net/http"
	"time"
)

func main() {
	log.Print("hello from a bare gokrazy image")
	srv := &http.Server{
		Addr:              ":7070",
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello\n"))
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
