package dashboard

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
)

// Run is the "infuse dashboard" command: the fleet's breakers under a
// namespace in Redis, served until ctx is done or -duration has passed.
func Run(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("dashboard", "[flags]",
		"Serves a live web page of every breaker under a namespace: state, counts, a timeline of\ntransitions, and buttons for the operator's actions. It listens on loopback unless told\notherwise, and warns on stderr when told to listen where other hosts reach it; the actions\nare off unless a token is set, and then need it.\n\nLimits: 8 live pages per client address (an IPv4 address or an IPv6 /64; loopback counts\ntoo, so operators behind one SSH tunnel share them), 64 in all. When full, the page that\nhas left a ping unanswered longest, 10 s at least (it is not reading), gives way to a new\none; with none such, the new one gets 429 or 503. Past 10 wrong tokens from an address,\nits actions get 429 with Retry-After: one more try every 10 s.",
		"  infuse dashboard\n  INFUSE_TOKEN=$(openssl rand -hex 16) infuse dashboard -listen 127.0.0.1:8080")
	rf := cli.AddRedisFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on")
	token := cli.TokenFlag(fs)
	allow := fs.String("allow-host", "", "more host `names` the page answers to, comma-separated (it answers to loopback names and the -listen host)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return cli.Usage("dashboard takes no arguments")
	}
	store, closeStore, err := rf.Connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := cli.WithDuration(ctx, *duration)
	defer cancel()
	d := New(&redisSource{store: store}, token())
	if *allow != "" {
		d.allowHosts = strings.Split(*allow, ",")
	}
	return d.Serve(ctx, *listen, func(url string) {
		fmt.Fprintf(out, "dashboard on %s (namespace %s, actions %s)\n", url, breaker.Printable(store.Namespace()), onOff(d.token != ""))
	})
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
