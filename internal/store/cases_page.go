package store

import (
	"context"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// OpenCasesPage lists up to limit open support cases, oldest first,
// those after the case after (the last of the page before; the zero case
// for the first page). Each page reads its cases from an index of the open
// cases alone (support_cases_open), however many there are.
func (s *Store) OpenCasesPage(ctx context.Context, after paidup.SupportCase, limit int) ([]paidup.SupportCase, error) {
	// Else SQLite reads by support_cases_status, and sorts every case
	// opened in the same microsecond as the page's first.
	return scanCases(s.db.Read.QueryContext(ctx, `SELECT `+caseColumns+` FROM `+s.openCases("support_cases_open")+`
		WHERE status = '`+paidup.CaseOpen+`' AND (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3`,
		ts(after.CreatedAt), after.ID, limit))
}

// openCases is the support cases table read through index, an index of
// the open cases alone (the query writes its condition, status = 'open',
// in full). SQLite is told to use it: left to choose, it read every open
// case by support_cases_status and sorted them; PostgreSQL chooses it.
func (s *Store) openCases(index string) string {
	if s.db.Engine == sqldb.SQLite {
		return `support_cases INDEXED BY ` + index
	}
	return `support_cases`
}
