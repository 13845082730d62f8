"""Project root conftest: its presence puts the checkout root on sys.path, so suites can import
`strategies.<vendor>` and `suites.<vendor>.*`. The authcanary pytest plugin itself is an installed entry point."""
