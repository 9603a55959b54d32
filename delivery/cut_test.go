package delivery

import (
	"fmt"
	"testing"
)

func TestCut(t *testing.T) {
	sameTens := func(a, b int) bool { return a/10 == b/10 }
	for _, tt := range []struct {
		items    []int
		size     int
		together func(a, b int) bool
		want     string
	}{
		{nil, 3, nil, "[]"},
		{[]int{1, 2, 3, 4, 5, 6, 7}, 3, nil, "[[1 2 3] [4 5 6] [7]]"},
		{[]int{1, 2, 3}, 3, nil, "[[1 2 3]]"},
		{[]int{10, 11, 12, 20, 21, 30}, 2, sameTens, "[[10 11 12] [20 21] [30]]"},
		{[]int{10, 20, 21, 22, 23}, 2, sameTens, "[[10 20 21 22 23]]"},
	} {
		if got := fmt.Sprint(cut(tt.items, tt.size, tt.together)); got != tt.want {
			t.Errorf("cut(%v, %d) = %s, want %s", tt.items, tt.size, got, tt.want)
		}
	}
}
