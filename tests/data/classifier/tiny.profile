# Test profile for tests/unit/train (project-written fixture tiny.csv / tiny.jsonl).
name tiny-1
license project-written test data
text text
bits 12
epochs 20
head sentiment sentiment c=0.5 weight=0.5
head reason reason c=0.5
map reason Lost Luggage => baggage
map reason Late Flight => flight_operations
map reason Cancelled Flight => flight_operations
map reason Customer Service Issue => customer_service
topic reason min=0.2
gate sentiment negative
