"""Templates of the HTML report (a package so that wheels carry them)."""
