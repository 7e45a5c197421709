//go:build !cmu440_noisn

// The lsp API of the recent handouts (Fall 2021 on): Params has MaxBackOffInterval and
// MaxUnackedMessages, and NewClient takes the initial sequence number. For an older one, build
// with -tags cmu440_noisn (api_noisn.go); for any other difference, edit these few lines.

package adapter

import "github.com/cmu440/lsp"

func newerParamFlags(p *lsp.Params) {
	intFlag(&p.MaxBackOffInterval, "most epochs between two sends of a message", "max-backoff", "maxbackoff")
	intFlag(&p.MaxUnackedMessages, "most unacknowledged messages in flight", "max-unacked", "maxUnackMessages")
}

// NewClient calls your lsp.NewClient.
func NewClient(hostport string, isn int, params *lsp.Params) (lsp.Client, error) {
	return lsp.NewClient(hostport, isn, params)
}
