package infusehttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusehttp"
	"github.com/infuse-go/infuse/registry"
)

// One breaker per host for an HTTP client.
func ExampleTransport() {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer down.Close()

	hosts, _ := registry.New(registry.Options{Template: infuse.Config{Name: "http:", FailMax: 2}})
	rt, _ := infusehttp.Transport(nil, infusehttp.ClientOptions{Registry: hosts})
	client := &http.Client{Transport: rt}
	for range 3 {
		resp, err := client.Get(down.URL)
		if err != nil {
			fmt.Println("not sent:", err != nil)
			continue
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 502
	// 502
	// not sent: true
}

// A handler that answers 503 with Retry-After while its breaker is open.
func ExampleMiddleware() {
	b, _ := infuse.New(infuse.Config{Name: "checkout"})
	mw, _ := infusehttp.Middleware(b, infusehttp.ServerOptions{})
	mux := http.NewServeMux()
	mux.Handle("/checkout", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})))
	fmt.Println(b.State())
	// Output: closed
}
