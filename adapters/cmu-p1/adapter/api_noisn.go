//go:build cmu440_noisn

// The lsp API of older handouts: Params has only EpochLimit, EpochMillis and WindowSize, and
// NewClient takes no initial sequence number.

package adapter

import (
	"flag"
	"log"

	"github.com/cmu440/lsp"
)

// newerParamFlags accepts the parameters this API lacks, says so, and ignores them.
func newerParamFlags(*lsp.Params) {
	for _, name := range []string{"max-backoff", "maxbackoff", "max-unacked", "maxUnackMessages"} {
		name := name
		flag.Func(name, "not in this lsp API: ignored", func(string) error {
			log.Printf("--%s ignored: this lsp.Params has no such field", name)
			return nil
		})
	}
}

// NewClient calls your lsp.NewClient, which picks its own initial sequence number.
func NewClient(hostport string, _ int, params *lsp.Params) (lsp.Client, error) {
	return lsp.NewClient(hostport, params)
}
