// Package adapter is what the two programs share: faultline's JSON-line control channel
// (systems/lsp/README.md "The control channel" in the faultline repository), the LSP flags, and
// the few lines that differ between versions of the course's lsp API (api.go, api_noisn.go).
package adapter

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
)

// control is the real stdout, faultline's channel. A stray print elsewhere in the program (a
// debug fmt.Println left in the lsp package) would break the channel, so os.Stdout is pointed
// at stderr, which faultline keeps as the program's log.
var control = os.Stdout

func init() { os.Stdout = os.Stderr }

const (
	// maxCommandBytes: the longest command line read; a longer one ends the program (exit 2),
	// as faultline never sends one (a 1,000-byte payload is ~1,400 in base64).
	maxCommandBytes = 64 * 1024
	// maxQueuedCommands: commands waiting for the ordered worker before stdin is read again.
	maxQueuedCommands = 1024
)

// Command is one line from faultline.
type Command struct {
	ID   json.RawMessage `json:"id"`
	Op   string          `json:"op"`
	Conn *int            `json:"conn"`
	Data *string         `json:"data"`
}

// Reply is one line to faultline: a command's reply or an event.
type Reply map[string]any

// ConnID is the command's "conn".
func (c Command) ConnID() (int, error) {
	if c.Conn == nil {
		return 0, errors.New(`"conn" must be an integer`)
	}
	return *c.Conn, nil
}

// Payload is the command's base64 "data", decoded.
func (c Command) Payload() ([]byte, error) {
	if c.Data == nil {
		return nil, errors.New(`"data" must be a base64 string`)
	}
	return base64.StdEncoding.DecodeString(*c.Data)
}

// Base64 encodes a payload for a reply; an empty or nil one is "".
func Base64(payload []byte) string { return base64.StdEncoding.EncodeToString(payload) }

// Result is {"ok":true}, or the error.
func Result(err error) Reply {
	if err != nil {
		return Fail(err)
	}
	return Reply{"ok": true}
}

// Fail is {"ok":false,"error":…}.
func Fail(err error) Reply { return Reply{"ok": false, "error": err.Error()} }

var emitting sync.Mutex

// Emit writes one line to faultline; lines from concurrent calls never interleave.
func Emit(line Reply) {
	bytes, err := json.Marshal(line)
	if err != nil {
		log.Printf("cannot encode %v: %v", line, err)
		return
	}
	emitting.Lock()
	defer emitting.Unlock()
	control.Write(append(bytes, '\n'))
}

// Serve answers commands until stdin ends, then exits. handle returns a command's reply, nil
// for an unknown op. A read blocks, so each runs in its own goroutine; every other command
// runs in arrival order on one goroutine, so writes keep their order. After answering close the
// program exits; a command after close gets ok:false.
func Serve(handle func(Command) Reply) {
	ordered := make(chan Command, maxQueuedCommands)
	go func() {
		for c := range ordered {
			answer(c, handle)
		}
	}()
	input := bufio.NewScanner(os.Stdin)
	input.Buffer(make([]byte, 4096), maxCommandBytes)
	closed := false
	for input.Scan() {
		var c Command
		if err := json.Unmarshal(input.Bytes(), &c); err != nil || c.Op == "" {
			log.Printf("bad command line (%v): %.200s", err, input.Bytes())
			continue
		}
		switch {
		case closed:
			answerWith(c, Fail(errors.New("closed")))
		case c.Op == "read":
			go answer(c, handle)
		default:
			closed = c.Op == "close"
			ordered <- c
		}
	}
	if err := input.Err(); err != nil {
		log.Printf("reading commands: %v", err)
		os.Exit(2)
	}
	os.Exit(0) // stdin ended: faultline is gone, and a program never outlives it
}

func answer(c Command, handle func(Command) Reply) {
	reply := handle(c)
	if reply == nil {
		reply = Fail(fmt.Errorf("unknown op %q", c.Op))
	}
	answerWith(c, reply)
	if c.Op == "close" {
		os.Exit(0)
	}
}

func answerWith(c Command, reply Reply) {
	reply["in_reply_to"] = c.ID
	Emit(reply)
}
