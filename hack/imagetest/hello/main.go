// Command hello is the only program of the bare gokrazy image the benchmark
// boots beside the OEPC image: it logs one line and stays up.
package main

import (
	"log"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	log.Print("hello from a bare gokrazy image")
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, os.Interrupt)
	<-c
}
