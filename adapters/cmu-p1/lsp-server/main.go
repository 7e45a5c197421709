// lsp-server: faultline's LSP server program around your lsp.Server (README.md beside this
// folder). faultline starts it as
//
//	lsp-server --port P [--epoch-limit K] [--epoch-millis D] [--window-size W]
//	           [--max-backoff B] [--max-unacked M] [--echo]
//
// and drives it with JSON lines on stdin; it prints {"event":"listening","port":P} once your
// lsp.NewServer listens, then one reply per command.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/cmu440/faultline/adapter"
	"github.com/cmu440/lsp"
)

// maxPortTries bounds the retries when a port picked for --port 0 is taken before
// lsp.NewServer binds it.
const maxPortTries = 5

func main() {
	port := flag.Int("port", 9999, "UDP port to listen on; 0 picks a free one")
	echo := flag.Bool("echo", false, "also write every message read back to its sender")
	params := adapter.ParamFlags()
	flag.Parse()
	srv, bound, err := listen(*port, params)
	if err != nil {
		log.Printf("lsp.NewServer: %v", err)
		os.Exit(1)
	}
	log.Printf("listening on %d with %+v", bound, *params)
	adapter.Emit(adapter.Reply{"event": "listening", "port": bound})
	if *echo {
		go echoLoop(srv)
	}
	adapter.Serve(func(c adapter.Command) adapter.Reply { return handle(srv, c) })
}

// listen starts your server. lsp.NewServer cannot say which port it bound, so for port 0 we
// ask the kernel for a free UDP port (bind :0, read it, release it) and pass that on; another
// program may take it in between, so a failure is retried with a new port.
func listen(port int, params *lsp.Params) (lsp.Server, int, error) {
	if port != 0 {
		srv, err := lsp.NewServer(port, params)
		return srv, port, err
	}
	var err error
	for try := 0; try < maxPortTries; try++ {
		if port, err = freeUDPPort(); err != nil {
			return nil, 0, err
		}
		var srv lsp.Server
		if srv, err = lsp.NewServer(port, params); err == nil {
			return srv, port, nil
		}
		log.Printf("lsp.NewServer on free port %d: %v; trying another", port, err)
	}
	return nil, 0, fmt.Errorf("%d free ports tried, the last failed with: %v", maxPortTries, err)
}

func freeUDPPort() (int, error) {
	probe, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return 0, err
	}
	defer probe.Close()
	return probe.LocalAddr().(*net.UDPAddr).Port, nil
}

func handle(srv lsp.Server, c adapter.Command) adapter.Reply {
	switch c.Op {
	case "read":
		id, payload, err := srv.Read()
		if err != nil {
			reply := adapter.Fail(err)
			reply["conn"] = id
			return reply
		}
		return adapter.Reply{"ok": true, "conn": id, "data": adapter.Base64(payload)}
	case "write":
		id, err := c.ConnID()
		if err != nil {
			return adapter.Fail(err)
		}
		payload, err := c.Payload()
		if err != nil {
			return adapter.Fail(err)
		}
		return adapter.Result(srv.Write(id, payload))
	case "close_conn":
		id, err := c.ConnID()
		if err != nil {
			return adapter.Fail(err)
		}
		return adapter.Result(srv.CloseConn(id))
	case "close":
		return adapter.Result(srv.Close())
	}
	return nil
}

// echoLoop is the staff echo server's loop: every message read is written back to its sender.
func echoLoop(srv lsp.Server) {
	for {
		id, payload, err := srv.Read()
		if err != nil && id == 0 {
			return // the server is closed
		}
		if err != nil {
			adapter.Emit(adapter.Reply{"event": "lost", "conn": id, "error": err.Error()})
			continue
		}
		adapter.Emit(adapter.Reply{"event": "read", "conn": id, "data": adapter.Base64(payload)})
		if err := srv.Write(id, payload); err != nil {
			log.Printf("echo to %d: %v", id, err)
		}
	}
}
