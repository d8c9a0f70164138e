# Airline profile: Twitter US Airline Sentiment (airline_train.csv).
# Heads: sentiment from airline_sentiment; reason from negativereason (10 reasons, only
# negative tweets carry one). The reason head maps to airline departments; the topic is
# "other" unless sentiment is negative, the reason maps to a department and its
# probability reaches min.
name airline-1
license Twitter US Airline Sentiment (Figure Eight / Kaggle), CC BY-NC-SA 4.0: non-commercial use only
text text
bits 15
epochs 30
head sentiment airline_sentiment c=0.4 weight=0.5
head reason negativereason c=0.4 weight=0.75
map reason Late Flight => flight_operations
map reason Cancelled Flight => flight_operations
map reason Lost Luggage => baggage
map reason Damaged Luggage => baggage
map reason Flight Booking Problems => bookings_refunds
map reason Customer Service Issue => customer_service
map reason longlines => customer_service
map reason Bad Flight => in_flight
map reason Flight Attendant Complaints => in_flight
topic reason min=0.3
gate sentiment negative
