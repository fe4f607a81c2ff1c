package web

import (
	"net/http"

	"github.com/paidup/paidup"
)

// planView is a plan as customer pages show it.
type planView struct {
	paidup.Plan
	TierName string
	Price    string
	Period   string
}

func (s *Server) planView(p paidup.Plan) planView {
	v := planView{Plan: p, Price: p.Amount.String()}
	if t, ok := s.Policy.Tier(p.Tier); ok {
		v.TierName = t.Name
	}
	switch {
	case p.Interval == paidup.Monthly:
		v.Period = "per month"
	case p.Interval == paidup.Yearly:
		v.Period = "per year"
	case p.Term.IsZero():
		v.Period = "once, yours for good"
	default:
		v.Period = "once, for " + describeTerm(p.Term)
	}
	return v
}

func describeTerm(t paidup.Term) string {
	unit := map[byte]string{'d': "day", 'm': "month", 'y': "year"}[t.Unit]
	if t.N == 1 {
		return "one " + unit
	}
	return itoa(t.N) + " " + unit + "s"
}

// handlePlans lists what customers can buy.
func (s *Server) handlePlans() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var plans []planView
		for _, p := range s.Policy.Plans {
			plans = append(plans, s.planView(p))
		}
		s.render(w, r, http.StatusOK, "plans.html", s.Business.Name, plans)
	})
}
