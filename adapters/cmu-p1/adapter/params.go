package adapter

import (
	"flag"

	"github.com/cmu440/lsp"
)

// ParamFlags declares the LSP flags faultline passes (--epoch-limit …), with the staff
// runners' names as aliases (-elim …). A flag not given keeps the value of your
// lsp.NewParams(), as faultline passes only the parameters its user set.
func ParamFlags() *lsp.Params {
	p := lsp.NewParams()
	intFlag(&p.EpochLimit, "epochs with nothing received before a connection is lost", "epoch-limit", "elim")
	intFlag(&p.EpochMillis, "epoch length in milliseconds", "epoch-millis", "ems")
	intFlag(&p.WindowSize, "sliding window size", "window-size", "wsize")
	newerParamFlags(p)
	return p
}

func intFlag(v *int, usage string, names ...string) {
	for _, name := range names {
		flag.IntVar(v, name, *v, usage)
	}
}
