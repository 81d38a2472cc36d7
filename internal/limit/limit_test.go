package limit

import "testing"

func TestConns(t *testing.T) {
	t.Parallel()
	c := NewConns(3, 2)
	r1, err1 := c.Acquire("10.0.0.1:1")
	_, err2 := c.Acquire("10.0.0.1:2")
	if _, err := c.Acquire("10.0.0.1:3"); err != ErrTooManyFromAddress || err1 != nil || err2 != nil {
		t.Fatal("per-address limit not applied", err)
	}
	if _, err := c.Acquire("10.0.0.2:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire("10.0.0.3:1"); err != ErrTooManyConnections {
		t.Fatal("total limit not applied", err)
	}
	r1()
	r1() // releasing twice is harmless
	if _, err := c.Acquire("10.0.0.3:1"); err != nil {
		t.Fatal(err)
	}
	if NewConns(0, 0) != nil {
		t.Fatal("no limits should mean no counter")
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	l := NewRate(2).Limiter()
	if !Allow(l) || !Allow(l) || Allow(l) {
		t.Fatal("burst of 2 not enforced")
	}
	if !Allow(NewRate(0).Limiter()) {
		t.Fatal("zero rate should be unlimited")
	}
}
