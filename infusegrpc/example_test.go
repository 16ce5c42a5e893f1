package infusegrpc_test

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusegrpc"
	"github.com/infuse-go/infuse/registry"
)

// One breaker per method for a client connection.
func Example() {
	methods, _ := registry.New(registry.Options{Template: infuse.Config{Name: "inventory"}})
	unary, _ := infusegrpc.UnaryClientInterceptor(infusegrpc.Options{Registry: methods})
	stream, _ := infusegrpc.StreamClientInterceptor(infusegrpc.Options{Registry: methods})
	cc, err := grpc.NewClient("inventory:443",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(unary), grpc.WithStreamInterceptor(stream))
	if err != nil {
		panic(err)
	}
	defer cc.Close()
	fmt.Println("ready")
	// Output: ready
}
