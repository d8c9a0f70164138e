# Retail profile: Bitext customer-service utterances (bitext_train.csv, changed from the
# Bitext originals: see ../shared/data/raw/bitext/README.md beside the repository).
# Heads: category (11 e-commerce categories, mapped to departments: the topic) and intent
# (27 request intents, mapped to the service's intents: complaint, question, praise).
# Bitext has no sentiment labels: a retail model has no sentiment head, so sentiment comes
# from the intent mapping (complaint -> negative) and rules.
name retail-1
license Bitext customer-service dataset (changed), CDLA-Sharing-1.0
text text
bits 15
epochs 30
head category category c=0.4 weight=0.5
head intent intent c=0.4 weight=0.5
map category PAYMENT => billing
map category INVOICE => billing
map category CANCELLATION_FEE => billing
map category ORDER => shipping
map category DELIVERY => shipping
map category SHIPPING_ADDRESS => shipping
map category ACCOUNT => accounts
map category NEWSLETTER => accounts
map category REFUND => refunds
map category CONTACT => customer_service
map intent complaint => complaint
map intent review => other
map intent cancel_order => question
map intent change_order => question
map intent change_shipping_address => question
map intent check_cancellation_fee => question
map intent check_invoice => question
map intent check_payment_methods => question
map intent check_refund_policy => question
map intent contact_customer_service => question
map intent contact_human_agent => question
map intent create_account => question
map intent delete_account => question
map intent delivery_options => question
map intent delivery_period => question
map intent edit_account => question
map intent get_invoice => question
map intent get_refund => question
map intent newsletter_subscription => question
map intent payment_issue => complaint
map intent place_order => question
map intent recover_password => question
map intent registration_problems => complaint
map intent set_up_shipping_address => question
map intent switch_account => question
map intent track_order => question
map intent track_refund => question
topic category min=0.3
