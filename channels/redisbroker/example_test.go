package redisbroker_test

import (
	"context"
	"log"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
)

// A box over three Redis servers: each group, channel record and user
// lives on one of them. Every node of the cluster is given the same list.
func ExampleNew_shards() {
	broker, err := redisbroker.New(&redisbroker.Options{
		Shards: []string{"redis://10.0.0.1:6379", "redis://10.0.0.2:6379", "redis://10.0.0.3:6379"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close(context.Background())
	box := channels.NewBox(&channels.Options{Broker: broker})
	defer box.Close(context.Background())
}

// A box over a Redis Cluster: the broker finds every node from a few of
// them, and spreads groups, channel records and users over the masters.
func ExampleNew_cluster() {
	broker, err := redisbroker.New(&redisbroker.Options{
		Cluster: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close(context.Background())
	box := channels.NewBox(&channels.Options{Broker: broker})
	defer box.Close(context.Background())
}
