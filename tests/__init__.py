"""The test suite; a package so its folders never shadow the project's own packages."""
