package config

import (
	"strings"
	"testing"
)

func TestValidateForeignClientID(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.MQTT.ForeignClientID = "share"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `mqtt.foreignclientid "share"`) {
		t.Fatalf("got %v, want an error naming mqtt.foreignclientid", err)
	}
	c.MQTT.ForeignClientID = "refuse"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
