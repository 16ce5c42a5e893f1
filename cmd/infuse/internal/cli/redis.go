package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse/redisstore"
)

// DefaultRedis is the Redis -redis names when neither it nor INFUSE_REDIS
// is set.
const DefaultRedis = "redis://127.0.0.1:6379/0"

// RedisFlags are -redis and -namespace, as the operator's commands take
// them.
type RedisFlags struct{ url, namespace *string }

// AddRedisFlags adds -redis, whose default comes from INFUSE_REDIS when
// the flags are read (see URL), never shown: a URL may hold a password,
// and -help prints defaults; and -namespace.
func AddRedisFlags(fs *flag.FlagSet) RedisFlags {
	return RedisFlags{
		url:       fs.String("redis", "", "Redis `URL`: redis://[user:password@]host:port/db, rediss:// for TLS (default: env INFUSE_REDIS, else "+DefaultRedis+")"),
		namespace: fs.String("namespace", "infuse", "the `namespace` the breakers are stored under"),
	}
}

// URL is -redis, else INFUSE_REDIS, else DefaultRedis.
func (r RedisFlags) URL() string {
	if *r.url != "" {
		return *r.url
	}
	if v := os.Getenv("INFUSE_REDIS"); v != "" {
		return v
	}
	return DefaultRedis
}

// Connect opens an operator's store (never counted as a member of the
// fleet) on the Redis and namespace the flags name.
func (r RedisFlags) Connect(ctx context.Context) (*redisstore.Store, func(), error) {
	return Connect(ctx, r.URL(), *r.namespace, false)
}

// Connect opens a store on the Redis at rawURL under namespace, failing
// within 2 seconds when Redis does not answer; close closes the store and
// its client. A member's store (the demo's) is counted as a member of the
// fleet and follows shadows; an operator's is not and does not.
func Connect(ctx context.Context, rawURL, namespace string, member bool) (store *redisstore.Store, closeStore func(), err error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		shown := "(not shown: it does not parse, and may hold a password)"
		if u, ok := RedactedURL(rawURL); ok {
			shown = strconv.Quote(u)
		}
		return nil, nil, Usage(fmt.Sprintf("malformed Redis URL %s: %s", shown, urlProblem(err)))
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
	store = redisstore.New(client, redisstore.Options{Namespace: namespace, OpTimeout: 2 * time.Second, Operator: !member, Shadows: member})
	return store, func() { _ = store.Close(); _ = client.Close() }, nil
}

// RedactedURL is a Redis URL fit to print, its password replaced by
// "xxxxx"; ok is false when it does not parse (then the text may hold a
// password anywhere, and none of it is fit to print).
func RedactedURL(raw string) (shown string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	return u.Redacted(), true
}

// quoted matches what an error quotes of its input.
var quoted = regexp.MustCompile(`"[^"]*"`)

// urlProblem says what is wrong with a Redis URL without repeating any of
// it: url.Parse's and go-redis's errors quote the text they were given,
// which may be a password.
func urlProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return quoted.ReplaceAllString(err.Error(), `"…"`)
}
