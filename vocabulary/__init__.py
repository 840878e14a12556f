"""The programme's words (closed sets as enums with their labels), its card actions and its UK time formats,
defined once. Imports nothing from bot/, cards/, storage/ or dialogs/, so every layer may use it."""
