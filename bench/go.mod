module github.com/infuse-go/infuse/bench

go 1.26.8

require (
	github.com/eapache/go-resiliency v1.7.0
	github.com/failsafe-go/failsafe-go v0.9.8
	github.com/infuse-go/infuse v0.0.0
	github.com/sony/gobreaker v1.0.0
	github.com/sony/gobreaker/v2 v2.4.0
)

require (
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	github.com/cep21/circuit/v4 v4.1.0
)

replace github.com/infuse-go/infuse => ../
