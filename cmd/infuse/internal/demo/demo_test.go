package demo

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

func TestDemoRunsAndStopsByItself(t *testing.T) {
	out, errOut, code := cmdtest.Run(t, "demo", "-duration", "2500ms")
	if code != 0 || !strings.Contains(out, "dashboard on http://127.0.0.1:") || !strings.Contains(out, "client-1") ||
		!strings.Contains(out, "upstream healthy") {
		t.Fatalf("demo: %d\n%s\n%s", code, out, errOut)
	}
}

// The Redis demo says which namespace it uses and the commands to look at
// it, and shows an outage of Redis.
func TestTheRedisDemoPrintsItsCommandsAndShowsAnOutage(t *testing.T) {
	srv, url, _, _ := cmdtest.Fleet(t)
	cmd := exec.Command(cmdtest.Binary(t), "demo", "-redis", url, "-members", "2", "-duration", "20s")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(pipe)
	var head []string
	for lines.Scan() && !strings.Contains(lines.Text(), "upstream") {
		head = append(head, lines.Text())
	}
	all := strings.Join(head, "\n")
	if !strings.Contains(all, "namespace infuse-demo") || !strings.Contains(all, "infuse status -redis "+url+" -namespace infuse-demo") ||
		!strings.Contains(all, "infuse watch -redis") || !strings.Contains(all, "dashboard on http://127.0.0.1:") {
		t.Fatalf("the demo's first lines:\n%s", all)
	}
	srv.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for lines.Scan() && time.Now().Before(deadline) {
		if strings.Contains(lines.Text(), "REDIS FAILING") {
			return
		}
	}
	t.Fatal("the demo did not show that Redis went away")
}
