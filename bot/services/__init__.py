"""Domain services. They never import botbuilder: they take a Database, repositories and a Clock."""
