package console_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// BenchmarkCustomerPage is the customer page of a customer with 10,000
// timeline entries, on each engine: its first page, and a page deep in
// the timeline, read by entry id.
func BenchmarkCustomerPage(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			tb := setup(b, engine)
			customer := tb.customer(b, 10_000)
			session := tb.signIn(b)
			first := tb.do(b, request{method: "GET", path: "/console/customers/" + customer, cookie: session})
			if first.Code != http.StatusOK {
				b.Fatalf("status %d", first.Code)
			}
			// The 100th page: entries 5,050 to 5,001 from the newest.
			deep := "/console/customers/" + customer
			older := regexp.MustCompile(`href="(/console/customers/[^"#]+)#timeline" rel="next"`)
			for range 100 {
				w := tb.do(b, request{method: "GET", path: deep, cookie: session})
				deep = strings.ReplaceAll(older.FindStringSubmatch(w.Body.String())[1], "&amp;", "&")
			}
			for _, p := range []struct{ name, path string }{{"first", "/console/customers/" + customer}, {"deep", deep}} {
				b.Run(p.name, func(b *testing.B) {
					for b.Loop() {
						if w := tb.do(b, request{method: "GET", path: p.path, cookie: session}); w.Code != http.StatusOK {
							b.Fatalf("status %d", w.Code)
						}
					}
				})
			}
		})
	}
}
