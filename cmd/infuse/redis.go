package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
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
// usage error. Flags may come after the arguments too ("infuse open NAME
// -redis URL"); "--" ends the flags, so that a NAME may begin with "-".
// The arguments are then in positional order in the returned slice.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(os.Stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// redisFlags adds --redis and --namespace.
type redisFlags struct {
	url, namespace *string
	// member makes the store a member of the fleet (the demo's); the
	// operator's commands are not, and are never counted as members.
	member bool
}

// defaultRedis is the Redis -redis names when neither it nor INFUSE_REDIS
// is set.
const defaultRedis = "redis://127.0.0.1:6379/0"

// addRedisFlags adds -redis, whose default comes from INFUSE_REDIS when
// the flags are read (see redisURL), never shown: a URL may hold a
// password, and -help prints defaults.
func addRedisFlags(fs *flag.FlagSet) redisFlags {
	return redisFlags{
		url:       fs.String("redis", "", "Redis `URL`: redis://[user:password@]host:port/db, rediss:// for TLS (default: env INFUSE_REDIS, else "+defaultRedis+")"),
		namespace: fs.String("namespace", "infuse", "the `namespace` the breakers are stored under"),
	}
}

// redisURL is -redis, else INFUSE_REDIS, else defaultRedis.
func (r redisFlags) redisURL() string {
	if *r.url != "" {
		return *r.url
	}
	if v := os.Getenv("INFUSE_REDIS"); v != "" {
		return v
	}
	return defaultRedis
}

// tokenFlag adds -token, whose default is INFUSE_TOKEN, read when the
// flags are (never shown by -help or an error).
func tokenFlag(fs *flag.FlagSet) func() string {
	t := fs.String("token", "", "the `token` the dashboard's actions need (default: env INFUSE_TOKEN); empty: actions off")
	return func() string {
		if *t != "" {
			return *t
		}
		return os.Getenv("INFUSE_TOKEN")
	}
}

// connect opens the store, failing within 2 seconds when Redis does not
// answer.
func (r redisFlags) connect(ctx context.Context) (*redisstore.Store, func(), error) {
	raw := r.redisURL()
	opts, err := redis.ParseURL(raw)
	if err != nil {
		shown := "(not shown: it does not parse, and may hold a password)"
		if u, ok := redactedURL(raw); ok {
			shown = strconv.Quote(u)
		}
		return nil, nil, &usageError{fmt.Sprintf("malformed Redis URL %s: %s", shown, urlProblem(err))}
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
	store := redisstore.New(client, redisstore.Options{Namespace: *r.namespace, OpTimeout: 2 * time.Second, Operator: !r.member, Shadows: r.member})
	return store, func() { _ = store.Close(); _ = client.Close() }, nil
}

// withDuration ends ctx after d, if d is set; cancel it either way.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}
