package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TLSServer is a redis-server that takes TLS connections only, with a
// certificate for 127.0.0.1 from a certificate authority made for it.
type TLSServer struct {
	Addr string
	// CAFile is the authority's certificate (PEM): a client that trusts
	// it (SSL_CERT_FILE, or Config's RootCAs) verifies the server.
	CAFile string
	// Config is a client's TLS configuration that trusts the authority.
	Config *tls.Config
}

// StartTLS starts a redis-server on a free loopback port that speaks TLS
// only (no plain port), and stops it when the test ends. Clients need no
// certificate of their own.
func StartTLS(tb testing.TB) *TLSServer {
	tb.Helper()
	Quiet()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatal("redis-server is not installed; run make test, which installs it, or apt-get install redis-server")
	}
	dir := tb.TempDir()
	caFile, certFile, keyFile, pool := makeCertificates(tb, dir)
	port := freePort(tb)
	s := &TLSServer{Addr: "127.0.0.1:" + strconv.Itoa(port), CAFile: caFile,
		Config: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	cmd := exec.Command("redis-server", "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no",
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting redis-server: %v", err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitPing(tb, &redis.Options{Addr: s.Addr, TLSConfig: s.Config, DialTimeout: 100 * time.Millisecond}, time.Second)
	return s
}

// Client returns a TLS client of the server with the tests' timeouts,
// closed when the test ends.
func (s *TLSServer) Client(tb testing.TB) *redis.Client {
	o := Options(s.Addr)
	o.TLSConfig = s.Config
	c := redis.NewClient(o)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// makeCertificates writes to dir a certificate authority and a server
// certificate for 127.0.0.1 it signed, with the server's key.
func makeCertificates(tb testing.TB, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(err)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		must(os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		return p
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server.key", "EC PRIVATE KEY", keyDER), pool
}
