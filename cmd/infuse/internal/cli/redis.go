package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
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
		url: fs.String("redis", "", "Redis `URL`: redis://[user:password@]host:port/db, rediss:// for TLS; a Cluster: redis://host1:port,host2:port,...;\n"+
			"a Sentinel's master: redis://sentinel:26379?master_name=NAME (default: env INFUSE_REDIS, else "+DefaultRedis+")"),
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

// Connect opens a store on the Redis that rawURL names (see Target)
// under namespace, failing within 2 seconds when Redis does not answer;
// close closes the store and its client. A member's store (the demo's) is
// counted as a member of the fleet and follows shadows; an operator's is
// not and does not.
func Connect(ctx context.Context, rawURL, namespace string, member bool) (store *redisstore.Store, closeStore func(), err error) {
	t, err := ParseTarget(rawURL)
	if err != nil {
		return nil, nil, err
	}
	client, err := t.Dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	// An operator's command may run far from Redis: wait as long as it dials.
	store = redisstore.New(client, redisstore.Options{Namespace: namespace, OpTimeout: 2 * time.Second, Operator: !member, Shadows: member})
	return store, func() { _ = store.Close(); _ = client.Close() }, nil
}

// Target is the Redis a -redis URL names: one server, a Redis Cluster, or
// the master a Sentinel names. The URL is go-redis's (redis.ParseURL,
// ParseClusterURL, ParseFailoverURL):
//
//	redis://[user:password@]host:port[/db]        one server; rediss:// for TLS; unix:///path/redis.sock
//	redis://host1:port,host2:port,host3:port      a Redis Cluster, from any of its nodes
//	redis://host1:port?addr=host2:port&addr=...   the same, as go-redis writes it
//	redis://host:port?master_name=NAME            the master NAME through a Sentinel (host:port)
//	redis://s1:26379,s2:26379?master_name=NAME    ... through any of several Sentinels
//
// A server that says it is a Cluster node (INFO cluster) is taken for the
// Cluster it belongs to, so one node's address is enough. With a
// Sentinel, the user and password before the host are the Sentinels'
// (go-redis's rule) and the master's are the query's username= and
// password=. Query parameters set go-redis's options (dial_timeout,
// skip_verify, ...); the command sets its own timeouts after them.
type Target struct {
	kind  string // "server", "cluster" or "sentinel"
	addrs []string
	// One of these, as kind says.
	server   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

// ParseTarget parses a -redis URL; an error is a usage error that repeats
// none of the URL's secrets.
func ParseTarget(rawURL string) (*Target, error) {
	bad := func(err error) error {
		shown := "(not shown: it does not parse, and may hold a password)"
		if u, ok := RedactedURL(rawURL); ok {
			shown = strconv.Quote(u)
		}
		return Usage(fmt.Sprintf("malformed Redis URL %s: %s", shown, urlProblem(err)))
	}
	first, more, err := splitHosts(rawURL)
	if err != nil {
		return nil, bad(err)
	}
	u, err := url.Parse(first)
	if err != nil {
		return nil, bad(err)
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	case "redis-sentinel", "sentinel", "redis+sentinel":
		return nil, bad(errors.New("for Sentinel, write redis://SENTINEL:26379?master_name=NAME (go-redis's form; several Sentinels comma-separated)"))
	default:
		return nil, bad(fmt.Errorf("scheme %q: want redis://, rediss:// (TLS) or unix://", u.Scheme))
	}
	q := u.Query()
	for _, h := range more {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	t := &Target{}
	switch {
	case q.Has("master_name"):
		if u.Scheme == "unix" {
			return nil, bad(errors.New("a Sentinel is reached over TCP: redis:// or rediss://"))
		}
		o, err := redis.ParseFailoverURL(u.String())
		if err == nil && o.MasterName == "" {
			err = errors.New("master_name is empty")
		}
		if err != nil {
			return nil, bad(err)
		}
		o.DialTimeout, o.ContextTimeoutEnabled, o.MaxRetries = time.Second, true, -1
		t.kind, t.addrs, t.failover = "sentinel", o.SentinelAddrs, o
	case q.Has("addr"):
		if u.Scheme == "unix" {
			return nil, bad(errors.New("a Redis Cluster is reached over TCP: redis:// or rediss://"))
		}
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, bad(fmt.Errorf("database %s: a Redis Cluster has database 0 only", db))
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, bad(err)
		}
		o.DialTimeout, o.ContextTimeoutEnabled, o.MaxRetries = time.Second, true, -1
		t.kind, t.addrs, t.cluster = "cluster", o.Addrs, o
	default:
		o, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, bad(err)
		}
		o.DialTimeout, o.ContextTimeoutEnabled, o.MaxRetries = time.Second, true, -1
		t.kind, t.addrs, t.server = "server", []string{o.Addr}, o
	}
	return t, nil
}

// String says where the target is, with no secret: for messages.
func (t *Target) String() string {
	switch t.kind {
	case "cluster":
		return "the Redis Cluster at " + strings.Join(t.addrs, ", ")
	case "sentinel":
		return fmt.Sprintf("master %s through the Sentinel at %s", quotedName(t.failover.MasterName), strings.Join(t.addrs, ", "))
	}
	return "Redis at " + t.addrs[0]
}

// Kind is "server", "cluster" or "sentinel"; a server Dial found to be a
// Cluster node is "cluster" after it.
func (t *Target) Kind() string { return t.kind }

// Dial connects to the target and checks that it answers, within 2
// seconds. A server that is a node of a Redis Cluster is dialed again as
// the Cluster.
func (t *Target) Dial(ctx context.Context) (redis.UniversalClient, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var client redis.UniversalClient
	switch t.kind {
	case "cluster":
		client = redis.NewClusterClient(t.cluster)
	case "sentinel":
		client = redis.NewFailoverClient(t.failover)
	default:
		c := redis.NewClient(t.server)
		if err := c.Ping(ctx).Err(); err != nil {
			_ = c.Close()
			if t.server.DB != 0 && strings.Contains(err.Error(), "not allowed in cluster mode") {
				return nil, Usage(fmt.Sprintf("%s is a Redis Cluster node, and a Cluster has database 0 only (the URL names %d)", t.addrs[0], t.server.DB))
			}
			return nil, fmt.Errorf("cannot reach %s: %v", t, err)
		}
		info, err := c.Info(ctx, "cluster").Result()
		if err != nil || !strings.Contains(info, "cluster_enabled:1") {
			return c, nil // INFO may be disabled: then take it for what it was named
		}
		_ = c.Close()
		t.kind, t.cluster = "cluster", clusterOf(t.server)
		client = redis.NewClusterClient(t.cluster)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("cannot reach %s: %v", t, err)
	}
	return client, nil
}

// clusterOf is the options of a client of the Cluster whose node o names.
func clusterOf(o *redis.Options) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs: []string{o.Addr}, ClientName: o.ClientName, Protocol: o.Protocol,
		Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
		MaxRetries: o.MaxRetries, MinRetryBackoff: o.MinRetryBackoff, MaxRetryBackoff: o.MaxRetryBackoff,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		ContextTimeoutEnabled: o.ContextTimeoutEnabled, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
		MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
		ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
	}
}

// quotedName is a name from a URL as a message shows it: quoted when it
// holds anything but letters, digits and -_.:
func quotedName(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return strconv.Quote(s)
		}
	}
	return s
}

// splitHosts takes a URL whose authority lists several comma-separated
// hosts apart: the URL with the first one, and the others (each
// host:port).
func splitHosts(raw string) (first string, more []string, err error) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw, nil, nil
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	auth := rest[:end]
	at := strings.LastIndex(auth, "@")
	hosts := strings.Split(auth[at+1:], ",")
	if len(hosts) == 1 {
		return raw, nil, nil
	}
	for _, h := range hosts {
		if host, port, err := net.SplitHostPort(h); err != nil || host == "" || port == "" {
			return "", nil, errors.New("each of several hosts is host:port")
		}
	}
	return raw[:i+3] + auth[:at+1] + hosts[0] + rest[end:], hosts[1:], nil
}

// RedactedURL is a Redis URL fit to print, its passwords (before the host,
// and a password= in the query) replaced by "xxxxx"; ok is false when it
// does not parse (then the text may hold a password anywhere, and none of
// it is fit to print).
func RedactedURL(raw string) (shown string, ok bool) {
	first, more, err := splitHosts(raw)
	if err != nil {
		return "", false
	}
	u, err := url.Parse(first)
	if err != nil {
		return "", false
	}
	if len(more) > 0 {
		u.Host += "," + strings.Join(more, ",")
	}
	q := u.Query()
	redacted := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
			redacted = true
		}
	}
	if redacted {
		u.RawQuery = q.Encode()
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
