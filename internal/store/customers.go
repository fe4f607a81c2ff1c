package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// MatchCustomer finds the customer a payment belongs to — first by the
// processor's customer id, then by normalised email — or creates one, and
// links the processor customer to them. created reports a new customer.
func (tx *Tx) MatchCustomer(ctx context.Context, processor, processorCustomerID, email string) (id string, created bool, err error) {
	if processorCustomerID != "" {
		err := tx.tx.QueryRowContext(ctx, `SELECT customer_id FROM processor_customers WHERE processor = $1 AND processor_id = $2`,
			processor, processorCustomerID).Scan(&id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, fmt.Errorf("matching processor customer %s: %w", processorCustomerID, err)
		}
	}
	if email == "" {
		return "", false, fmt.Errorf("matching customer: no processor customer and no email")
	}
	newID := newID("cu")
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO customers (id, email, created_at) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING`,
		newID, email, tx.now)
	if err != nil {
		return "", false, fmt.Errorf("creating customer: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		id, created = newID, true
	} else if err := tx.tx.QueryRowContext(ctx, `SELECT id FROM customers WHERE email = $1`, email).Scan(&id); err != nil {
		return "", false, fmt.Errorf("matching customer by email: %w", err)
	}
	if processorCustomerID != "" {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO processor_customers (processor, processor_id, customer_id) VALUES ($1, $2, $3)
			ON CONFLICT (processor, processor_id) DO NOTHING`, processor, processorCustomerID, id); err != nil {
			return "", false, fmt.Errorf("linking processor customer %s: %w", processorCustomerID, err)
		}
	}
	return id, created, nil
}

// Customer reads a customer with their processor ids.
func (s *Store) Customer(ctx context.Context, id string) (paidup.Customer, error) {
	return customer(ctx, s.db.Read, `SELECT id, email, created_at FROM customers WHERE id = $1`, id)
}

// CustomerByEmail reads the customer with a normalised email address.
func (s *Store) CustomerByEmail(ctx context.Context, email string) (paidup.Customer, error) {
	return customer(ctx, s.db.Read, `SELECT id, email, created_at FROM customers WHERE email = $1`, email)
}

func customer(ctx context.Context, q sqldb.Queryer, query, arg string) (paidup.Customer, error) {
	var c paidup.Customer
	err := q.QueryRowContext(ctx, query, arg).Scan(&c.ID, &c.Email, &c.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, paidup.Errorf(paidup.ENOTFOUND, "No such customer.")
	}
	if err != nil {
		return c, fmt.Errorf("reading customer: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	rows, err := q.QueryContext(ctx, `SELECT processor, processor_id FROM processor_customers WHERE customer_id = $1 ORDER BY processor, processor_id`, c.ID)
	if err != nil {
		return c, fmt.Errorf("reading processor customers: %w", err)
	}
	defer rows.Close()
	c.ProcessorIDs = map[string][]string{}
	for rows.Next() {
		var p, id string
		if err := rows.Scan(&p, &id); err != nil {
			return c, err
		}
		c.ProcessorIDs[p] = append(c.ProcessorIDs[p], id)
	}
	return c, rows.Err()
}
