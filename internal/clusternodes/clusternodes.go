// Package clusternodes reads the slot map of a Redis Cluster from the
// output of CLUSTER NODES, for the Redis broker and the test helpers that
// start a cluster.
package clusternodes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Range is a range of cluster slots, Start to End inclusive, and the
// address (host:port) of the master that owns them.
type Range struct {
	Start, End int
	Master     string
}

// Parse reads the slot map from the output of CLUSTER NODES:
// a line per node, "<id> <ip:port@cport[,hostname]> <flags> <master>
// <ping> <pong> <epoch> <link> <slot>...", where a slot is "n" or "n-m"
// and "[...]" entries are slots being migrated (left out). CLUSTER NODES
// rather than CLUSTER SLOTS or SHARDS: it is plain text that redis-cli
// prints as is, so no RESP parser is needed here. Ranges come ordered by
// start.
func Parse(out string) ([]Range, error) {
	var r []Range
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("clusternodes: short CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, sl := range f[8:] {
			if strings.HasPrefix(sl, "[") {
				continue
			}
			a, b, isRange := strings.Cut(sl, "-")
			start, err := strconv.Atoi(a)
			if err != nil {
				return nil, fmt.Errorf("clusternodes: bad slot %q", sl)
			}
			end := start
			if isRange {
				if end, err = strconv.Atoi(b); err != nil {
					return nil, fmt.Errorf("clusternodes: bad slot %q", sl)
				}
			}
			if start < 0 || end < start || end > 16383 {
				return nil, fmt.Errorf("clusternodes: bad slot range %q", sl)
			}
			r = append(r, Range{start, end, addr})
		}
	}
	slices.SortFunc(r, func(a, b Range) int { return a.Start - b.Start })
	return r, nil
}
