module github.com/switchboard-go/switchboard/internal/loadtest

go 1.26.0

replace github.com/switchboard-go/switchboard => ../..

require (
	github.com/gorilla/websocket v1.5.3
	github.com/olahol/melody v1.1.4
	github.com/switchboard-go/switchboard v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
	golang.org/x/image v0.48.0
)

require (
	github.com/redis/rueidis v1.0.79 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
