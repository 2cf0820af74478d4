/* Placeholder until emberctl lands. */
int main(void)
{
	return 1;
}
