package zonemap_test

import (
	"fmt"

	"edgecdn/internal/zonemap"
)

func ExampleParse() {
	zm, err := zonemap.Parse([]string{"10.1.0.0/16=eu-west-1a,10.2.0.0/16=eu-west-1b", "2001:db8::/32=eu-west-1a"})
	if err != nil {
		panic(err)
	}
	for _, m := range zm {
		fmt.Println(m.CIDR, m.Zone)
	}
	// Output:
	// 10.1.0.0/16 eu-west-1a
	// 10.2.0.0/16 eu-west-1b
	// 2001:db8::/32 eu-west-1a
}
