package registry_test

import (
	"fmt"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/registry"
)

func Example() {
	tenants, err := registry.New(registry.Options{
		Template: infuse.Config{Name: "tenant:", FailMax: 3},
		Max:      10000,
	})
	if err != nil {
		panic(err)
	}
	b, _ := tenants.Get("acme")
	fmt.Println(b.Name(), b.State())
	// Output: tenant:acme closed
}
