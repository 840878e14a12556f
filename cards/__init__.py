"""Pure card builders: view data in, Adaptive Card 1.5 JSON (a dict) out. No I/O, no botbuilder."""
