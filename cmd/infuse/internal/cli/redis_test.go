package cli

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// Neither -help nor an error prints a token or a Redis password.
func TestSecretsAreNeverPrinted(t *testing.T) {
	env := []string{"INFUSE_TOKEN=tok-3f9a1c", "INFUSE_REDIS=redis://ops:pw-77d2e1@127.0.0.1:1/0"}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cmdtest.Binary(t), args...)
		cmd.Env = append(cmd.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	for _, args := range [][]string{
		{"dashboard", "-help"}, {"status", "-help"}, {"demo", "-help"}, {"open", "-help"},
		{"dashboard", "-bogus"}, {"status", "-bogus"},
		{"status"}, // unreachable
		{"status", "-redis", "redis://ops:pw-77d2e1@127.0.0.1:x/0"},
		{"status", "-redis", "redis://ops:pw-77d2e1%zz@127.0.0.1:1/0"},
		{"status", "-redis", "http://ops:pw-77d2e1@127.0.0.1:1/0"},
	} {
		out := run(args...)
		if strings.Contains(out, "tok-3f9a1c") || strings.Contains(out, "pw-77d2e1") {
			t.Errorf("infuse %v printed a secret:\n%s", args, out)
		}
	}
}

// breakerOn makes a member's store under namespace ops on client, with
// a breaker called payments, opened: what the command should find.
func breakerOn(t *testing.T, client redis.UniversalClient) *infuse.Breaker {
	t.Helper()
	store := redisstore.New(client, redisstore.Options{Namespace: "ops", OpTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = store.Close() })
	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, ResetTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// statusLists runs status with the URL and wants payments listed open.
func statusLists(t *testing.T, url string, env ...string) {
	t.Helper()
	out, errOut, code := runEnv(t, env, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.Contains(out, "payments  open") {
		t.Fatalf("status -redis %s: %d %q %q", url, code, out, errOut)
	}
}

// runEnv is cmdtest.Run with more environment.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(cmdtest.Binary(t), args...)
	cmd.Env = append(cmd.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// The command reaches a Redis Cluster from a list of its nodes, in
// either way of writing it, or from one node (which says it is one); it
// acts on the Cluster, and a database other than 0 is a usage error.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	b := breakerOn(t, c.Client(t))
	a := c.Addrs
	for _, url := range []string{
		"redis://" + strings.Join(a, ","),
		"redis://" + a[0] + "?addr=" + a[1] + "&addr=" + a[2],
		"redis://" + a[1], // one node: INFO cluster says it is a Cluster's
		"redis://" + a[2] + "/0",
	} {
		statusLists(t, url)
	}
	out, errOut, code := cmdtest.Run(t, "close", "-redis", "redis://"+strings.Join(a, ","), "-namespace", "ops", "payments")
	if code != 0 || !strings.HasPrefix(out, "payments: closed") {
		t.Fatalf("close on the Cluster: %d %q %q", code, out, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	for b.State() != infuse.Closed && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.State() != infuse.Closed {
		t.Fatal("the member never saw the close made through the Cluster")
	}
	for _, url := range []string{"redis://" + strings.Join(a, ",") + "/2", "redis://" + a[0] + "/2"} {
		if _, errOut, code := cmdtest.Run(t, "status", "-redis", url); code != 2 || !strings.Contains(errOut, "database 0 only") {
			t.Errorf("status -redis %s: %d %q", url, code, errOut)
		}
	}
	if _, errOut, code := cmdtest.Run(t, "status", "-redis", "redis://"+a[0]+",nohost"); code != 2 || !strings.Contains(errOut, "each of several hosts is host:port") {
		t.Errorf("a host without a port: %d %q", code, errOut)
	}
}

// The command reaches the master a Sentinel names, through the first of
// several Sentinels that answers; an unknown master name is an error.
func TestRedisSentinel(t *testing.T) {
	srv := redistest.Start(t)
	s := redistest.StartSentinel(t, srv)
	breakerOn(t, srv.Client(t))
	statusLists(t, "redis://"+s.Addr+"?master_name=mymaster")
	dead := redistest.Start(t)
	deadAddr := dead.Addr
	dead.Kill()
	statusLists(t, "redis://"+deadAddr+","+s.Addr+"?master_name=mymaster")
	if _, errOut, code := cmdtest.Run(t, "status", "-redis", "redis://"+s.Addr+"?master_name=nosuch"); code != 1 || !strings.Contains(errOut, "master nosuch through the Sentinel at "+s.Addr) {
		t.Errorf("an unknown master: %d %q", code, errOut)
	}
	if _, errOut, code := cmdtest.Run(t, "status", "-redis", "redis-sentinel://"+s.Addr+"/mymaster"); code != 2 || !strings.Contains(errOut, "?master_name=NAME") {
		t.Errorf("redis-sentinel://: %d %q", code, errOut)
	}
}

// An ACL user and its password reach Redis; a wrong password is an error
// that shows neither password; a password in the query (a Sentinel's
// master's) is redacted too.
func TestRedisUserAndPassword(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	breakerOn(t, c)
	ctx := context.Background()
	if err := c.Do(ctx, "ACL", "SETUSER", "ops", "on", ">pw-77d2e1", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	statusLists(t, "redis://ops:pw-77d2e1@"+srv.Addr+"/0")
	_, errOut, code := cmdtest.Run(t, "status", "-redis", "redis://ops:pw-wrong-5c1@"+srv.Addr+"/0")
	if code != 1 || !strings.Contains(errOut, "WRONGPASS") || strings.Contains(errOut, "pw-wrong-5c1") {
		t.Errorf("a wrong password: %d %q", code, errOut)
	}
	if u, ok := RedactedURL("redis://s:pw-1@h1:26379,h2:26379?master_name=m&password=pw-2"); !ok || strings.Contains(u, "pw-") || !strings.Contains(u, "h1:26379,h2:26379") {
		t.Errorf("RedactedURL: %q %v", u, ok)
	}
}

// rediss:// reaches a server that speaks TLS only, verifying its
// certificate against the authorities the system trusts (SSL_CERT_FILE
// here); one it does not trust is an error.
func TestRedisTLS(t *testing.T) {
	srv := redistest.StartTLS(t)
	breakerOn(t, srv.Client(t))
	statusLists(t, "rediss://"+srv.Addr+"/0", "SSL_CERT_FILE="+srv.CAFile)
	if _, errOut, code := runEnv(t, []string{"SSL_CERT_FILE=/dev/null"}, "status", "-redis", "rediss://"+srv.Addr+"/0"); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Errorf("an untrusted certificate: %d %q", code, errOut)
	}
	statusLists(t, "rediss://"+srv.Addr+"/0?skip_verify=true", "SSL_CERT_FILE=/dev/null")
}
