package er7

import "testing"

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  Location
		want string
	}{
		{Location{}, "segment"},
		{Location{Seq: 3}, "segment(3)"},
		{Location{Segment: "PID", Seq: 1}, "PID"},
		{Location{Segment: "PID", Seq: 1, Field: 3}, "PID-3"},
		{Location{Segment: "PID", Seq: 1, Field: 11, Rep: 2}, "PID-11[2]"},
		{Location{Segment: "PID", Seq: 1, Field: 3, Rep: 2, Component: 4, Sub: 1}, "PID-3[2].4.1"},
		{Location{Segment: "OBX", Seq: 3, Field: 5}, "OBX(3)-5"},
		{Location{Segment: "ZBE", Seq: 12, Field: 123, Rep: 1, Component: 10}, "ZBE(12)-123.10"},
		{Location{Segment: "PV1", Field: 2, Sub: 3}, "PV1-2"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.loc, got, tt.want)
		}
	}
}
