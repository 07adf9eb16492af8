package proto_test

import (
	"fmt"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

func ExampleEncode() {
	b := proto.Encode(nil, 42, time.Unix(0, 1_000_000_000), 40)
	fmt.Println(string(b))
	// Output: 000000000000002a000000003b9aca00xxxxxxxx
}

func ExampleDecode() {
	b := proto.Encode(nil, 42, time.Unix(1700000000, 0), 1024)
	seq, sent, err := proto.Decode(b[:proto.HeaderSize]) // the header is enough
	fmt.Println(seq, sent.UTC(), err)
	// Output: 42 2023-11-14 22:13:20 +0000 UTC <nil>
}
