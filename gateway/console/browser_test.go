package console_test

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Browser tests: the console driven in a real headless Chromium
// (chromedp), with axe-core run in each main page for WCAG 2.1 checks.
// They skip when no Chromium is installed; CI installs Debian's chromium
// (.ci/run) and sets RELAIS_REQUIRE_CHROMIUM, which turns the skip into a
// failure. Screenshots go to $RELAIS_ARTEFACTS/<test> when set, else to
// the test's temporary directory.

//go:embed testdata/axe-core/axe.min.js
var axeSource string

// axeSHA256 pins the vendored axe-core 4.14.1 (testdata/axe-core/README.md).
const axeSHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

// chromiumPath finds a Chromium: $RELAIS_CHROMIUM, else the usual names.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RELAIS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("RELAIS_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no Chromium found and RELAIS_REQUIRE_CHROMIUM is set (CI installs Debian's chromium)")
	}
	t.Skip("no Chromium found (chromium, chromium-browser, google-chrome, headless-shell, or $RELAIS_CHROMIUM): browser tests skipped; .ci/run installs Debian's chromium")
	return ""
}

type page struct {
	t    *testing.T
	ctx  context.Context
	f    *fixture
	dir  string // screenshots
	shot int
}

func newPage(t *testing.T, f *fixture) *page {
	t.Helper()
	bin := chromiumPath(t)
	t.Logf("chromium: %s", bin)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-GB"), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	dir := t.TempDir()
	if a := os.Getenv("RELAIS_ARTEFACTS"); a != "" {
		dir = filepath.Join(a, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &page{t: t, ctx: ctx, f: f, dir: dir}
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) open(path string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.f.ts.URL+path), chromedp.WaitReady(chromedp.CSS("footer")))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: %v", sel, err)
	}
	return s
}

func (p *page) eval(js string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return s
}

// screenshot saves the whole page as NN-name.png.
func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	p.shot++
	path := filepath.Join(p.dir, strings.Join([]string{twoDigits(p.shot), name}, "-")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
}

// waitFor polls the page until the expression is true (at most 10 s).
func (p *page) waitFor(js string) {
	p.t.Helper()
	for i := 0; i < 100; i++ {
		if ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("never true: %s (page %s: %q)", js, p.eval(`location.href`), p.eval(`document.body ? document.body.innerText.slice(0, 200) : ""`))
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// accessible runs axe-core in the page and fails on any serious or
// critical violation (WCAG 2.1 A and AA rules, and axe's best practices).
func (p *page) accessible(name string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
		p.t.Fatalf("inject axe: %v", err)
	}
	type report struct {
		Passes     int      `json:"passes"`
		Violations []string `json:"violations"`
	}
	r, err := chromedp.Run(p.ctx, chromedp.Evaluate[report](`axe.run(document).then(r => ({
		passes: r.passes.length,
		violations: r.violations
			.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))}))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("axe: %v", err)
	}
	if r.Passes == 0 {
		p.t.Errorf("%s: axe checked nothing", name)
	}
	for _, v := range r.Violations {
		p.t.Errorf("%s: %s", name, v)
	}
}

// signIn signs in through the page, as a demo identity.
func (p *page) signIn(who string) {
	p.t.Helper()
	p.open("/console/signin?lang=en")
	p.do(chromedp.Click(chromedp.CSS("#as-"+who)), chromedp.WaitVisible(chromedp.CSS(".user")))
}

func (p *page) apiStatus(who, path string) int {
	p.t.Helper()
	code, _ := p.f.api(p.t, who, "GET", path)
	return code
}

func TestAxePinned(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte(axeSource))
	if got := hex.EncodeToString(sum[:]); got != axeSHA256 {
		t.Errorf("testdata/axe-core/axe.min.js sha256 %s, want %s", got, axeSHA256)
	}
}

// TestBrowserConsentOfficer: sign in with the keyboard alone, find the demo
// patient, record an objection against the nurse, see the nurse's next
// API read refused, revoke it.
func TestBrowserConsentOfficer(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skips before starting a server
	f := newFixture(t)
	p := newPage(t, f)
	p.open("/console/signin?lang=en")
	p.accessible("sign-in")
	p.screenshot("signin")
	// Keyboard: the first Tab reaches the skip link; Tab on to the consent
	// officer's button and press Enter.
	p.do(chromedp.KeyEvent(kb.Tab))
	if got := p.eval(`document.activeElement.className`); got != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	for i := 0; i < 40 && p.eval(`document.activeElement.id`) != "as-consent-officer"; i++ {
		p.do(chromedp.KeyEvent(kb.Tab))
	}
	p.do(chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#ins")))
	p.accessible("find a patient")
	p.do(chromedp.SendKeys(chromedp.CSS("#ins"), demoINS), chromedp.Click(chromedp.CSS("form.search button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/patients/demo-patient"]`)))
	p.screenshot("patients-found")
	p.do(chromedp.Click(chromedp.CSS(`a[href="/console/patients/demo-patient"]`)), chromedp.WaitVisible(chromedp.CSS("#patient-name")))
	p.accessible("patient summary")
	p.do(chromedp.Click(chromedp.CSS(`nav.tabs a[href="/console/patients/demo-patient/consents"]`)), chromedp.WaitVisible(chromedp.CSS("#record-h")))
	p.do(chromedp.Click(chromedp.CSS(`input[value="`+nurseRole+`"]`)),
		chromedp.Click(chromedp.CSS(`section[aria-labelledby="record-h"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := p.text(".consent .sentence"); s != "Jeanne Dupont objects to sharing with Julien Petit" {
		t.Errorf("consent reads %q", s)
	}
	p.accessible("consents")
	p.screenshot("consents-objection")
	if code := p.apiStatus("nurse", "/fhir/Patient/demo-patient"); code != http.StatusNotFound {
		t.Errorf("the nurse's read after the objection: %d, want 404", code)
	}
	p.do(chromedp.Click(chromedp.CSS(`form[action$="/revoke"] button`)), chromedp.WaitVisible(chromedp.CSS(".consent.inactive")))
	if code := p.apiStatus("nurse", "/fhir/Patient/demo-patient"); code != http.StatusOK {
		t.Errorf("the nurse's read after the revocation: %d", code)
	}
	p.screenshot("consents-revoked")
	p.open("/console/patients/demo-patient/what-if?actor=PractitionerRole/demo-physio-role&what=letter")
	if s := p.text(".answer h3"); !strings.Contains(s, "Yes") {
		t.Errorf("what-if answer %q", s)
	}
	p.accessible("what-if")
	p.screenshot("what-if")
	p.open("/console/patients/demo-patient/disclosures")
	p.accessible("disclosure log")
	p.screenshot("disclosures")
	// A tablet in portrait: nothing wider than the screen.
	p.do(chromedp.EmulateViewport(820, 1180))
	p.open("/console/patients/demo-patient/consents?lang=fr")
	if got := p.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
		t.Error("the consents page scrolls sideways on a tablet")
	}
	p.accessible("consents, French, tablet")
	p.screenshot("consents-tablet-fr")
}

// TestBrowserCoordinator: the coordinator sees the routed discharge's
// Tasks and re-assigns one.
func TestBrowserCoordinator(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skips before starting a server
	f := newFixture(t)
	p := newPage(t, f)
	p.signIn("coordinator")
	p.open("/console/patients/demo-patient/plan")
	if n := p.eval(`String(document.querySelectorAll('ol.chain li.task').length)`); n < "6" {
		t.Errorf("%s Tasks shown, want the 6 of the plan", n)
	}
	p.accessible("discharge plan")
	p.screenshot("plan")
	p.do(chromedp.Click(chromedp.CSS(`li[id$="-nurse-1"] details summary`)),
		chromedp.SetValue(chromedp.CSS(`select[id$="-nurse-1"]`), "PractitionerRole/demo-nurse-lyon-role"),
		chromedp.Click(chromedp.CSS(`form[action$="-nurse-1/assign"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := p.text(`li[id$="-nurse-1"] .owner`); !strings.Contains(s, "Paul Garnier") {
		t.Errorf("the nurse's Task is asked of %q", s)
	}
	p.screenshot("plan-reassigned")
	p.open("/console/operations")
	p.accessible("operations")
}

// TestBrowserHomeHelp: the home-help service, without the patient's permit,
// finds nobody and sees nothing clinical.
func TestBrowserHomeHelp(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skips before starting a server
	f := newFixture(t)
	p := newPage(t, f)
	p.signIn("home-help")
	p.do(chromedp.SendKeys(chromedp.CSS("#ins"), demoINS), chromedp.Click(chromedp.CSS("form.search button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("h1#found")))
	if s := p.text("main"); !strings.Contains(s, "No patient you may see matches.") || strings.Contains(s, "Dupont") {
		t.Errorf("home-help search shows %q", s)
	}
	for _, path := range []string{"/console/patients/demo-patient", "/console/patients/demo-patient/plan"} {
		p.open(path)
		s := p.text("main")
		for _, clinical := range []string{"Heart failure", "I50", "heart-failure", "Dupont", "Cardiolog"} {
			if strings.Contains(s, clinical) {
				t.Errorf("%s shows %q to the home-help", path, clinical)
			}
		}
	}
	p.accessible("not disclosed")
	p.screenshot("home-help-nothing")
}

// TestBrowserBackAfterSearch: after finding a patient and opening her
// record, Back shows the results again, and a reload repeats no POST
// (Chromium answers a POST result it may not cache with ERR_CACHE_MISS,
// "Confirm form resubmission"); nothing of her is left in the page's
// storage or in a cookie a script can read.
func TestBrowserBackAfterSearch(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skips before starting a server
	f := newFixture(t)
	p := newPage(t, f)
	p.signIn("consent-officer")
	p.do(chromedp.SendKeys(chromedp.CSS("#family"), "dupont"), chromedp.SendKeys(chromedp.CSS("#birthdate"), "15/03/1942"),
		chromedp.Click(chromedp.CSS("form.search button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/patients/demo-patient"]`)))
	results := p.eval(`location.href`)
	p.do(chromedp.Click(chromedp.CSS(`a[href="/console/patients/demo-patient"]`)), chromedp.WaitVisible(chromedp.CSS("#patient-name")))
	// history.back(): the person's Back button. chromedp's NavigateBack
	// and WaitVisible do not see a history navigation end here: the page
	// is polled instead.
	p.do(chromedp.Evaluate[chromedp.Void](`history.back()`))
	p.waitFor(`location.href === ` + strconv.Quote(results) + ` && !!document.querySelector('a[href="/console/patients/demo-patient"]')`)
	p.do(chromedp.Evaluate[chromedp.Void](`location.reload()`))
	p.waitFor(`document.readyState === 'complete' && !!document.querySelector('a[href="/console/patients/demo-patient"]')`)
	if got := p.eval(`location.href`); got != results || strings.Contains(got, "upont") || strings.Contains(got, "1942") {
		t.Errorf("results at %s after Back and reload (first at %s)", got, results)
	}
	p.do(chromedp.Evaluate[chromedp.Void](`history.forward()`))
	p.waitFor(`!!document.querySelector('#patient-name')`)
	for _, js := range []string{`JSON.stringify(localStorage)`, `JSON.stringify(sessionStorage)`} {
		if got := p.eval(js); got != "{}" {
			t.Errorf("%s = %s", js, got)
		}
	}
	if got := p.eval(`document.cookie`); strings.Contains(got, "relais_console") {
		t.Errorf("the session cookie is readable by scripts: %q", got)
	}
}
