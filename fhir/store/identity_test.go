package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

const insSystem = "urn:oid:1.2.250.1.213.1.4.10"

func claimed(t testing.TB, id string) TxEntry {
	e := putEntry(t, `{"resourceType":"Patient","id":"`+id+`"}`)
	e.Claims = []Claim{{Type: "Patient", System: insSystem, Value: "248066913523456"}}
	return e
}

// Two writes racing to create a Patient for one identifier: exactly one
// wins, through every write path, and the loser is told who holds it.
func TestClaimsAreUnique(t *testing.T) {
	t.Parallel()
	paths := map[string]func(s *Store, e TxEntry) error{
		"Transaction": func(s *Store, e TxEntry) error {
			_, err := s.Transaction(context.Background(), []TxEntry{e})
			return err
		},
		"TransactionWith": func(s *Store, e TxEntry) error {
			_, err := s.TransactionWith(context.Background(), []TxEntry{e}, TxOptions{})
			return err
		},
	}
	for name, write := range paths {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t)
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = write(s, claimed(t, fmt.Sprintf("p%d", i)))
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !IsClaimed(err):
					t.Fatalf("unexpected error %v", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d writes won the claim, want 1", won)
			}
			owner, err := s.ClaimOwner("Patient", insSystem, "248066913523456")
			if err != nil || owner == "" {
				t.Fatalf("owner %q, %v", owner, err)
			}
			if _, err := s.Read("Patient", owner); err != nil {
				t.Fatalf("the owner was not written: %v", err)
			}
			// The owner writes again; a merge takes the claim over.
			if err := write(s, claimed(t, owner)); err != nil {
				t.Fatalf("owner rewrite: %v", err)
			}
			e := claimed(t, "survivor")
			e.Claims[0].From = owner
			if err := write(s, e); err != nil {
				t.Fatalf("take over: %v", err)
			}
			if got, _ := s.ClaimOwner("Patient", insSystem, "248066913523456"); got != "survivor" {
				t.Fatalf("owner after take-over %q", got)
			}
		})
	}
}

func TestIdentityReviews(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	v := IdentityReview{Kind: "merge", Resources: []string{"Patient/a", "Patient/b"}, Reason: "merged", Time: at, Message: "A40-1"}
	if err := s.PutIdentityReviews(ctx, v); err != nil {
		t.Fatal(err)
	}
	later := v
	later.Time, later.Reason, later.Message = at.Add(time.Hour), "again", "A40-2"
	if err := s.PutIdentityReviews(ctx, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.IdentityReviews()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Reason != "merged" || !got[0].Time.Equal(at) || len(got[0].Resources) != 2 || got[0].Message != "A40-1" {
		t.Fatalf("reviews %+v, want the first one only", got)
	}
}

// TestClaimReleased: a write of the resource that holds a claim may end
// it; the same release written for another resource leaves it; once
// released, another resource may claim the identifier.
func TestClaimReleased(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Transaction(ctx, []TxEntry{claimed(t, "a")}); err != nil {
		t.Fatal(err)
	}
	release := func(id string) TxEntry {
		e := putEntry(t, `{"resourceType":"Patient","id":"`+id+`","active":true}`)
		e.Claims = []Claim{{Type: "Patient", System: insSystem, Value: "248066913523456", Release: true}}
		return e
	}
	if _, err := s.Transaction(ctx, []TxEntry{release("b")}); err != nil {
		t.Fatal(err)
	}
	if owner, _ := s.ClaimOwner("Patient", insSystem, "248066913523456"); owner != "a" {
		t.Fatalf("another resource's write released the claim: owner %q", owner)
	}
	if _, err := s.TransactionWith(ctx, []TxEntry{release("a")}, TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if owner, _ := s.ClaimOwner("Patient", insSystem, "248066913523456"); owner != "" {
		t.Fatalf("claim still held by %q after its release", owner)
	}
	if _, err := s.Transaction(ctx, []TxEntry{claimed(t, "c")}); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
}
