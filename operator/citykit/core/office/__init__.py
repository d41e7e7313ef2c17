"""What the programme office reads: KPI targets folded with measured reports into verdicts
(`kpi`), the city's one-page report (`report`) and its inline SVG charts (`svg`). Pure:
the CLI fetches what they fold and writes what they return."""
