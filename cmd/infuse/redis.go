package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse/redisstore"
)

// errHelp stops a command after -help.
var errHelp = errors.New("help")

// flags is a command's flag set with infuse's usage text.
func flags(name, synopsis, description, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: infuse %s %s\n\n%s\n\nFlags:\n", name, synopsis, description)
		fs.PrintDefaults()
		fmt.Fprintf(w, "\nExamples:\n%s\n", examples)
	}
	return fs
}

// parse parses args, turning -help into errHelp and bad flags into a
// usage error.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &usageError{err.Error()}
	}
	return nil
}

// redisFlags adds --redis and --namespace.
type redisFlags struct {
	url, namespace *string
}

func addRedisFlags(fs *flag.FlagSet) redisFlags {
	def := os.Getenv("INFUSE_REDIS")
	if def == "" {
		def = "redis://127.0.0.1:6379/0"
	}
	return redisFlags{
		url:       fs.String("redis", def, "Redis `URL`: redis://[user:password@]host:port/db, rediss:// for TLS (env INFUSE_REDIS)"),
		namespace: fs.String("namespace", "infuse", "the `namespace` the breakers are stored under"),
	}
}

// connect opens the store, failing within 2 seconds when Redis does not
// answer.
func (r redisFlags) connect(ctx context.Context) (*redisstore.Store, func(), error) {
	opts, err := redis.ParseURL(*r.url)
	if err != nil {
		return nil, nil, &usageError{fmt.Sprintf("malformed Redis URL %q: %v", *r.url, err)}
	}
	opts.DialTimeout = time.Second
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	client := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("cannot reach Redis at %s: %v", opts.Addr, err)
	}
	// An operator's command may run far from Redis: wait as long as it dials.
	store := redisstore.New(client, redisstore.Options{Namespace: *r.namespace, OpTimeout: 2 * time.Second})
	return store, func() { _ = store.Close(); _ = client.Close() }, nil
}

// withDuration ends ctx after d, if d is set; cancel it either way.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}
