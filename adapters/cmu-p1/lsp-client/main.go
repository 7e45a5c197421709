// lsp-client: faultline's LSP client program around your lsp.Client (README.md beside this
// folder). faultline starts it as
//
//	lsp-client --host H --port P --isn N [--epoch-limit K] [--epoch-millis D]
//	           [--window-size W] [--max-backoff B] [--max-unacked M]
//
// with its proxy's address; it prints {"event":"connected","conn":ID} once your
// lsp.NewClient returns (or {"event":"connect_failed",…} and exits 1), then one reply per
// command.
package main

import (
	"flag"
	"log"
	"math/rand"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cmu440/faultline/adapter"
	"github.com/cmu440/lsp"
)

func main() {
	host := flag.String("host", "localhost", "server host")
	port := flag.Int("port", 9999, "server UDP port")
	isn := flag.Int("isn", -1, "initial sequence number (default: random in [0, 256))")
	params := adapter.ParamFlags()
	flag.Parse()
	if *isn < 0 {
		*isn = rand.New(rand.NewSource(time.Now().UnixNano())).Intn(256)
	}
	hostport := net.JoinHostPort(*host, strconv.Itoa(*port))
	cli, err := adapter.NewClient(hostport, *isn, params)
	if err != nil {
		adapter.Emit(adapter.Reply{"event": "connect_failed", "error": err.Error()})
		os.Exit(1)
	}
	log.Printf("connected to %s as %d (isn %d) with %+v", hostport, cli.ConnID(), *isn, *params)
	adapter.Emit(adapter.Reply{"event": "connected", "conn": cli.ConnID()})
	adapter.Serve(func(c adapter.Command) adapter.Reply { return handle(cli, c) })
}

func handle(cli lsp.Client, c adapter.Command) adapter.Reply {
	switch c.Op {
	case "write":
		payload, err := c.Payload()
		if err != nil {
			return adapter.Fail(err)
		}
		return adapter.Result(cli.Write(payload))
	case "read":
		payload, err := cli.Read()
		if err != nil {
			return adapter.Fail(err)
		}
		return adapter.Reply{"ok": true, "data": adapter.Base64(payload)}
	case "close":
		return adapter.Result(cli.Close())
	}
	return nil
}
